// The documented HTTP extras for Predict and PredictBatch that the proto cannot express: multipart
// uploads (a PNG/JPEG `frame` part and `.npy` `actions` parts) in, an MP4 body or multipart/mixed out,
// and the X-DreamEngine-* headers. These are thin adapters: they produce the same proto-JSON-shaped
// request the transcoder accepts (so path binding and validation are shared) and the same handlers
// run; nothing here decides anything a gRPC caller could not also ask for.

import type { ServerResponse } from "node:http";
import { invalidArgument } from "../../core/errors";
import type { Limits } from "../../core/limits";
import type { PredictBatchResponse, PredictResponse, Rollout } from "../../gen/dream/v1/dream";
import { parseNpy } from "../../codec/npy";
import { scalarFromJson } from "./json";
import type { FormPart, MultipartLimits } from "./multipart";
import { multipartMixed, type MixedPart } from "./multipart";
import { drained } from "./respond";

export const PREDICT = "/dream.v1.Models/Predict";
export const PREDICT_BATCH = "/dream.v1.Models/PredictBatch";

// FrameEncoding wire values (dream.proto). Numbers rather than the ts-proto enum: the adapters speak
// the transcoder's JSON form, where an enum may be given by number.
const ENC = { UNSPECIFIED: 0, RAW_RGB8: 1, PNG: 2, JPEG: 3, MP4: 4 } as const;
const OUTPUT_NAMES: Record<string, number> = { mp4: ENC.MP4, png: ENC.PNG, jpeg: ENC.JPEG, jpg: ENC.JPEG, raw: ENC.RAW_RGB8 };

/** Text fields a predict form may carry, besides the `frame` and `actions` files. */
const FIELDS = new Set(["num_steps", "guidance", "seed", "output", "jpeg_quality", "deadline_ms", "request_id"]);
/** A text field is a number or a UUID; anything longer than this is a mistake, not a value. */
const FIELD_BYTES_MAX = 256;

export interface MediaAdapter {
  /** Proto-JSON body (snake_case names, Buffers for bytes) built from the form parts. */
  fromForm(parts: FormPart[]): Record<string, unknown>;
  /** The HTTP surface defaults to MP4 output where gRPC defaults to RAW_RGB8 (dream.proto OutputOptions). */
  applyHttpDefaults(tree: Record<string, unknown>): void;
  /** Write a media response (MP4 / multipart/mixed) from the decoded response message. */
  render(res: ServerResponse, response: DecodedPredictResponse, headers: Record<string, string>): Promise<void>;
  /** The handler's (generated-type) response's rollouts, to check against a planned raw body. */
  rawRollouts(response: unknown): Rollout[];
  /** The same response without its rollouts' bytes (what is left to decode once the body is laid out). */
  withoutFrames(response: unknown): unknown;
}

/** The decoded (protobufjs, snake_case) response shapes we read; both predict responses share them. */
interface DecodedRollout {
  candidate_index: number;
  encoding: number;
  frames: Uint8Array[];
  video: Uint8Array;
  frame_count: number;
  height: number;
  width: number;
}
export interface DecodedPredictResponse {
  rollout?: DecodedRollout;
  rollouts?: DecodedRollout[];
  summary?: { request_id: string; frames: number; engine_wall_ms: number; batch_size: number; cost?: { usd: string } } | null;
}

export function formLimits(limits: Limits): MultipartLimits {
  return {
    partsMax: limits.multipartPartsMax,
    headerBytesMax: limits.httpHeaderBytesMax,
    // The frame is bounded by its own limit; actions files only by the body limit (K·T·384·8 fits it).
    partBytesMax: (name, isFile) => (name === "frame" ? limits.frameBytesMax : FIELDS.has(name) && !isFile ? FIELD_BYTES_MAX : limits.httpBodyBytesMax),
  };
}

export function mediaAdapters(): Map<string, MediaAdapter> {
  return new Map<string, MediaAdapter>([
    [
      PREDICT,
      {
        fromForm: (parts) => predictFromForm(parts, false),
        applyHttpDefaults,
        render: renderPredict,
        rawRollouts: (m) => ((m as PredictResponse).rollout ? [(m as PredictResponse).rollout!] : []),
        withoutFrames: (m) => ({ ...(m as PredictResponse), rollout: undefined }),
      },
    ],
    [
      PREDICT_BATCH,
      {
        fromForm: (parts) => predictFromForm(parts, true),
        applyHttpDefaults,
        render: renderPredictBatch,
        rawRollouts: (m) => (m as PredictBatchResponse).rollouts,
        withoutFrames: (m) => ({ ...(m as PredictBatchResponse), rollouts: [] }),
      },
    ],
  ]);
}

/** Runs on the transcoded field tree (original names, enum numbers), after path and body binding. */
function applyHttpDefaults(tree: Record<string, unknown>): void {
  const output = (tree["output"] ?? {}) as Record<string, unknown>;
  if (output["encoding"] === undefined || output["encoding"] === ENC.UNSPECIFIED) tree["output"] = { ...output, encoding: ENC.MP4 };
}

function predictFromForm(parts: FormPart[], batch: boolean): Record<string, unknown> {
  const frames = parts.filter((p) => p.name === "frame");
  const actions = parts.filter((p) => p.name === "actions");
  const fields = new Map<string, string>();
  for (const part of parts) {
    if (part.name === "frame" || part.name === "actions") continue;
    if (!FIELDS.has(part.name)) throw invalidArgument(part.name, `unknown form field; expected frame, actions, ${[...FIELDS].join(", ")}`);
    if (fields.has(part.name)) throw invalidArgument(part.name, "given more than once");
    fields.set(part.name, part.data.toString("utf8").trim());
  }
  if (frames.length !== 1) throw invalidArgument("frame", frames.length === 0 ? "required part missing (PNG or JPEG bytes)" : `expected one frame part, got ${frames.length}`);
  if (frames[0]!.data.length === 0) throw invalidArgument("frame", "empty part");
  if (actions.length === 0) throw invalidArgument("actions", "required part missing (a .npy file, float32 (T, 384))");
  if (!batch && actions.length > 1) throw invalidArgument("actions", `expected one actions part, got ${actions.length}; use predict_batch for several candidates`);

  const body: Record<string, unknown> = {
    // UNSPECIFIED: the service sniffs PNG/JPEG from the magic bytes, whatever the part's Content-Type says.
    start_frame: { encoding: ENC.UNSPECIFIED, data: frames[0]!.data },
  };
  if (batch) body["candidates"] = candidatesFromParts(actions);
  else body["actions"] = actionsFromNpy(actions[0]!.data, "actions", 2);

  const params: Record<string, unknown> = { seed: "0" };
  const text = (name: string): string | undefined => fields.get(name);
  if (text("num_steps") !== undefined) params["num_steps"] = scalarFromJson("uint32", text("num_steps"), "num_steps", "query");
  if (text("guidance") !== undefined) params["guidance"] = scalarFromJson("float", text("guidance"), "guidance", "query");
  if (text("seed") !== undefined) params["seed"] = scalarFromJson("uint64", text("seed"), "seed", "query");
  body["params"] = params;

  const outputName = (text("output") ?? "mp4").toLowerCase();
  const encoding = OUTPUT_NAMES[outputName];
  if (encoding === undefined) throw invalidArgument("output", `expected mp4, png, jpeg or raw, got ${JSON.stringify(outputName)}`);
  const output: Record<string, unknown> = { encoding };
  if (text("jpeg_quality") !== undefined) output["jpeg_quality"] = scalarFromJson("uint32", text("jpeg_quality"), "jpeg_quality", "query");
  body["output"] = output;
  if (text("deadline_ms") !== undefined) body["deadline_ms"] = scalarFromJson("uint32", text("deadline_ms"), "deadline_ms", "query");
  if (text("request_id") !== undefined) body["request_id"] = text("request_id");
  return body;
}

/** K `actions` parts of (T, D) each, or a single (K, T, D) part (a single (T, D) part is K = 1). */
function candidatesFromParts(parts: FormPart[]): Array<Record<string, unknown>> {
  if (parts.length > 1) return parts.map((p, i) => actionsFromNpy(p.data, `actions[${i}]`, 2));
  const array = parseNpy(parts[0]!.data, "actions");
  if (array.shape.length === 2) return [packActions(array.data, array.shape)];
  if (array.shape.length !== 3) throw invalidArgument("actions", `expected shape (K, T, 384) or (T, 384), got (${array.shape.join(", ")})`, { shape: array.shape });
  const [k, t, d] = array.shape as [number, number, number];
  const per = t * d;
  return Array.from({ length: k }, (_, i) => packActions(array.data.subarray(i * per, (i + 1) * per), [t, d]));
}

function actionsFromNpy(file: Buffer, field: string, rank: number): Record<string, unknown> {
  const array = parseNpy(file, field);
  if (array.shape.length !== rank) throw invalidArgument(field, `expected shape (T, 384), got (${array.shape.join(", ")})`, { shape: array.shape });
  return packActions(array.data, array.shape);
}

/** Actions.data is packed little-endian float32 (parseNpy already narrowed float64; hosts are LE). */
function packActions(data: Float32Array, shape: number[]): Record<string, unknown> {
  return { data: Buffer.from(data.buffer, data.byteOffset, data.byteLength), shape };
}

// ---------------------------------------------------------------------------------------------
// responses
// ---------------------------------------------------------------------------------------------

/** Batch-level X-DreamEngine-* headers from the summary (handlers that set them in ctx win). */
export function summaryHeaders(response: DecodedPredictResponse): Record<string, string> {
  const s = response.summary;
  if (!s) return {};
  const out: Record<string, string> = {
    "x-dreamengine-frames": String(s.frames),
    "x-dreamengine-engine-wall-ms": String(s.engine_wall_ms),
  };
  if (s.cost?.usd) out["x-dreamengine-estimated-charge-usd"] = s.cost.usd;
  if (s.request_id) out["x-dreamengine-request-id"] = s.request_id;
  if (s.batch_size) out["x-dreamengine-batch-size"] = String(s.batch_size);
  return out;
}

const IMAGE_TYPES: Record<number, string> = { [ENC.PNG]: "image/png", [ENC.JPEG]: "image/jpeg", [ENC.RAW_RGB8]: "application/octet-stream", [ENC.UNSPECIFIED]: "application/octet-stream" };

function rolloutParts(r: DecodedRollout, index: number): MixedPart[] {
  const candidate = String(r.candidate_index ?? index);
  if (r.encoding === ENC.MP4 || (r.video && r.video.length > 0)) {
    return [{ headers: { "Content-Type": "video/mp4", "X-DreamEngine-Candidate-Index": candidate, "X-DreamEngine-Frames": String(r.frame_count) }, body: asBuffer(r.video) }];
  }
  return (r.frames ?? []).map((frame, i) => {
    const headers: Record<string, string> = { "Content-Type": IMAGE_TYPES[r.encoding] ?? "application/octet-stream", "X-DreamEngine-Candidate-Index": candidate, "X-DreamEngine-Frame-Index": String(i) };
    if (r.encoding !== ENC.PNG && r.encoding !== ENC.JPEG) {
      // Raw RGB8 needs its geometry to be usable.
      headers["X-DreamEngine-Frame-Height"] = String(r.height);
      headers["X-DreamEngine-Frame-Width"] = String(r.width);
    }
    return { headers, body: asBuffer(frame) };
  });
}

const asBuffer = (b: Uint8Array | undefined): Buffer => (b ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : Buffer.alloc(0));

async function renderPredict(res: ServerResponse, response: DecodedPredictResponse, headers: Record<string, string>): Promise<void> {
  const r = response.rollout;
  if (r && (r.encoding === ENC.MP4 || (r.video && r.video.length > 0))) {
    const body = asBuffer(r.video);
    res.writeHead(200, { ...headers, "content-type": "video/mp4", "content-length": String(body.length) });
    res.end(body);
    return;
  }
  await writeMixed(res, r ? rolloutParts(r, 0) : [], headers);
}

async function renderPredictBatch(res: ServerResponse, response: DecodedPredictResponse, headers: Record<string, string>): Promise<void> {
  // Submission order is the rollouts' order; candidate_index on each part lets a client check it.
  await writeMixed(res, (response.rollouts ?? []).flatMap((r, i) => rolloutParts(r, i)), headers);
}

const MIXED_RUN_BYTES = 16 * 1024 * 1024;

async function writeMixed(res: ServerResponse, parts: MixedPart[], headers: Record<string, string>): Promise<void> {
  const mixed = multipartMixed(parts);
  res.writeHead(200, { ...headers, "content-type": mixed.contentType, "content-length": String(mixed.length) });
  // A K=8 raw response is hundreds of MB: hand it to the socket as fast as the client reads, not at once.
  // Corked runs of up to MIXED_RUN_BYTES go out as one writev (a part's head, body and CRLF together,
  // not three writes), and 'drain' is awaited per run rather than per part.
  const chunks = mixed.chunks;
  for (let i = 0; i < chunks.length; ) {
    if (res.destroyed) return;
    res.cork();
    for (let bytes = 0; i < chunks.length && bytes < MIXED_RUN_BYTES; i++) {
      bytes += chunks[i]!.length;
      res.write(chunks[i]!);
    }
    res.uncork();
    if (res.writableNeedDrain) await drained(res);
  }
  res.end();
}
