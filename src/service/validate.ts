// Request validation for every predict flavour: pure, runs before any billing or engine work, and
// names the field, the expected and the given in every error.
import type { CatalogEntry } from "../config/catalog";
import { invalidArgument } from "../core/errors";
import { limits } from "../core/limits";
import { FrameEncoding, Priority, type Actions, type OutputOptions, type SamplingParams } from "../gen/dream/v1/dream";

export interface ValidatedParams {
  numSteps: number;
  guidance: number;
  seed: bigint;
}

export interface ValidatedOutput {
  encoding: "RAW_RGB8" | "PNG" | "JPEG" | "MP4";
  jpegQuality: number;
}

export const DEFAULT_JPEG_QUALITY = 90;

/** A client's shape as an error shows it: a repeated field can hold millions of dims, so the first few. */
function shapeEcho(shape: number[]): string {
  const shown = 8;
  return shape.length <= shown ? `(${shape.join(", ")})` : `(${shape.slice(0, shown).join(", ")}, … ${shape.length} dims)`;
}

/** Unpacks little-endian float32 action bytes with an explicit [T, actionDim] shape. */
export function validateActions(field: string, actions: Actions | undefined, entry: CatalogEntry): Float32Array {
  if (!actions) throw invalidArgument(field, `required: float32 actions of shape (T, ${entry.actionDim})`);
  const shape = actions.shape;
  if (shape.length !== 2) {
    const given = shapeEcho(shape);
    throw invalidArgument(field, `model expects shape (T, ${entry.actionDim}), got shape ${given}`, { expected: `(T, ${entry.actionDim})`, given });
  }
  const [steps, dim] = shape as [number, number];
  if (dim !== entry.actionDim) {
    throw invalidArgument(field, `model expects ${entry.actionDim} action dims, got shape (${steps}, ${dim})`, { expected: `(T, ${entry.actionDim})`, given: `(${steps}, ${dim})` });
  }
  if (steps < 1 || steps > limits.actionStepsMax) {
    throw invalidArgument(field, `T must be in 1..${limits.actionStepsMax}, got ${steps}`, { expected: `1..${limits.actionStepsMax}`, given: steps });
  }
  const bytesExpected = steps * dim * 4;
  if (actions.data.byteLength !== bytesExpected) {
    throw invalidArgument(field, `shape (${steps}, ${dim}) float32 needs ${bytesExpected} bytes, got ${actions.data.byteLength}`, { expected: bytesExpected, given: actions.data.byteLength });
  }
  // Copy into an aligned buffer we own: the message buffer may be unaligned and must not be retained.
  const values = new Float32Array(steps * dim);
  new Uint8Array(values.buffer).set(actions.data);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) {
      const row = Math.floor(i / dim);
      throw invalidArgument(field, `actions must be finite, got ${values[i]} at [${row}, ${i % dim}]`, { index: [row, i % dim] });
    }
  }
  return values;
}

export function validateCandidates(
  candidates: Actions[],
  entry: CatalogEntry,
  batchLanesMax: number,
  fieldOf: (index: number) => string = (i) => `candidates[${i}]`,
): { lanes: Float32Array[]; actionSteps: number } {
  const kMax = Math.min(limits.candidatesMax, batchLanesMax);
  if (candidates.length < 1 || candidates.length > kMax) {
    throw invalidArgument("candidates", `K must be in 1..${kMax} for ${entry.slug}, got ${candidates.length}`, { expected: `1..${kMax}`, given: candidates.length });
  }
  const lanes = candidates.map((c, i) => validateActions(fieldOf(i), c, entry));
  const actionSteps = candidates[0]!.shape[0]!;
  candidates.forEach((c, i) => {
    if (c.shape[0] !== actionSteps) {
      throw invalidArgument(`candidates[${i}]`, `every candidate needs the same T: candidates[0] has T=${actionSteps}, candidates[${i}] has T=${c.shape[0]}`);
    }
  });
  return { lanes, actionSteps };
}

export function validateParams(params: SamplingParams | undefined, entry: CatalogEntry): ValidatedParams {
  const numSteps = params?.numSteps || entry.defaultNumSteps;
  if (numSteps < 1 || numSteps > limits.numStepsMax) {
    throw invalidArgument("params.num_steps", `must be in 1..${limits.numStepsMax} (0 = model default ${entry.defaultNumSteps}), got ${numSteps}`);
  }
  const guidance = params?.guidance ?? entry.defaultGuidance;
  if (!Number.isFinite(guidance) || guidance < 0 || guidance > limits.guidanceMax) {
    throw invalidArgument("params.guidance", `must be in 0..${limits.guidanceMax}, got ${guidance}`);
  }
  return { numSteps, guidance, seed: BigInt(params?.seed ?? 0) };
}

export function validateOutput(output: OutputOptions | undefined): ValidatedOutput {
  const encoding = output?.encoding ?? FrameEncoding.FRAME_ENCODING_UNSPECIFIED;
  const names: Record<number, ValidatedOutput["encoding"]> = {
    [FrameEncoding.FRAME_ENCODING_UNSPECIFIED]: "RAW_RGB8",
    [FrameEncoding.RAW_RGB8]: "RAW_RGB8",
    [FrameEncoding.PNG]: "PNG",
    [FrameEncoding.JPEG]: "JPEG",
    [FrameEncoding.MP4]: "MP4",
  };
  const name = names[encoding];
  if (!name) throw invalidArgument("output.encoding", `must be RAW_RGB8, PNG, JPEG or MP4, got ${encoding}`);
  const jpegQuality = output?.jpegQuality || DEFAULT_JPEG_QUALITY;
  if (jpegQuality < limits.jpegQualityMin || jpegQuality > limits.jpegQualityMax) {
    throw invalidArgument("output.jpeg_quality", `must be in ${limits.jpegQualityMin}..${limits.jpegQualityMax}, got ${jpegQuality}`);
  }
  return { encoding: name, jpegQuality };
}

export function validateDeadlineMs(deadlineMs: number): number | undefined {
  if (deadlineMs === 0) return undefined;
  if (deadlineMs < 0 || deadlineMs > limits.deadlineMsMax) {
    throw invalidArgument("deadline_ms", `must be in 1..${limits.deadlineMsMax} (0 = none), got ${deadlineMs}`);
  }
  return deadlineMs;
}

/** The traffic class a request asked for; unset means `fallback` (interactive for predicts, batch for jobs). */
export function validatePriority(priority: Priority | undefined, fallback: "interactive" | "batch"): "interactive" | "batch" {
  switch (priority ?? Priority.PRIORITY_UNSPECIFIED) {
    case Priority.PRIORITY_UNSPECIFIED:
      return fallback;
    case Priority.INTERACTIVE:
      return "interactive";
    case Priority.BATCH:
      return "batch";
    default:
      throw invalidArgument("priority", `must be INTERACTIVE or BATCH, got ${String(priority).slice(0, limits.errorEchoCharsMax)}`);
  }
}

export const encodingName = (e: FrameEncoding): "UNSPECIFIED" | "RAW_RGB8" | "PNG" | "JPEG" => {
  switch (e) {
    case FrameEncoding.RAW_RGB8:
      return "RAW_RGB8";
    case FrameEncoding.PNG:
      return "PNG";
    case FrameEncoding.JPEG:
      return "JPEG";
    case FrameEncoding.FRAME_ENCODING_UNSPECIFIED:
      return "UNSPECIFIED";
    default:
      throw invalidArgument("start_frame.encoding", `must be RAW_RGB8, PNG or JPEG, got ${FrameEncoding[e] ?? e}`);
  }
};
