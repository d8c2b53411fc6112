// A job's rows, validated up front on create (model geometry, actions shape, a decodable start frame)
// so that a bad row is an INVALID_ARGUMENT naming it and nothing is created or charged; and turned back
// into a predict's input when a runner claims one.
import type { CatalogEntry } from "../../config/catalog";
import { parseNpy } from "../../codec/npy";
import { invalidArgument } from "../../core/errors";
import { limits } from "../../core/limits";
import { FrameEncoding, type Actions, type Frame } from "../../gen/dream/v1/dream";
import type { JobRow } from "../../gen/dream/v1/jobs";
import { checkRowName, defaultRowName } from "../../jobs/paths";
import { listDirRows, readDirRowFiles } from "../../jobs/source";
import type { NewRow, RowRecord } from "../../jobs/types";
import type { CodecPort } from "../ports";
import { encodingName, validateCandidates } from "../validate";

export interface RowValidation {
  entry: CatalogEntry;
  codecs: CodecPort;
  /** The hold of one predict of `frames` frames (PredictFlow.chargeMicros). */
  chargeMicros: (frames: number, pricePerFrameMicros: number) => number;
}

/** [T, D] → one candidate; [K, T, D] → K candidates of [T, D] (bytes checked before slicing). */
export function splitActions(actions: Actions | undefined, field: string, entry: CatalogEntry): Actions[] {
  if (!actions) throw invalidArgument(field, `required: float32 actions of shape (T, ${entry.actionDim}) or (K, T, ${entry.actionDim})`);
  if (actions.shape.length !== 3) return [actions];
  const [k, t, d] = actions.shape as [number, number, number];
  const kMax = Math.min(limits.candidatesMax, entry.batchLanesMax);
  if (k < 1 || k > kMax) throw invalidArgument(field, `K must be in 1..${kMax} for ${entry.slug}, got shape (${k}, ${t}, ${d})`);
  const laneBytes = t * d * 4;
  if (actions.data.byteLength !== k * laneBytes) throw invalidArgument(field, `shape (${k}, ${t}, ${d}) float32 needs ${k * laneBytes} bytes, got ${actions.data.byteLength}`);
  return Array.from({ length: k }, (_, i) => ({ shape: [t, d], data: actions.data.subarray(i * laneBytes, (i + 1) * laneBytes) }));
}

/** Validates one row as a predict would and returns its hold price. */
async function checkRow(v: RowValidation, frame: Frame | undefined, actions: Actions | undefined, field: string): Promise<number> {
  const { entry } = v;
  const candidates = splitActions(actions, `${field}.actions`, entry);
  const { lanes, actionSteps } = validateCandidates(candidates, entry, entry.batchLanesMax, () => `${field}.actions`);
  if (!frame || frame.data.byteLength === 0) throw invalidArgument(`${field}.start_frame`, `required: a ${entry.resolution[0]}x${entry.resolution[1]} (HxW) PNG, JPEG or RAW_RGB8 frame`);
  const [height, width] = entry.resolution;
  await v.codecs.decodeStartFrame({ encoding: encodingName(frame.encoding), data: frame.data, height: frame.height, width: frame.width }, { height, width }, `${field}.start_frame`);
  return v.chargeMicros(lanes.length * (actionSteps + 1), entry.pricePerFrameMicros);
}

export async function uploadedRows(v: RowValidation, rows: JobRow[]): Promise<NewRow[]> {
  if (rows.length === 0) throw invalidArgument("source.rows", "holds no rows");
  if (rows.length > limits.jobRowsMax) throw invalidArgument("source.rows", `${rows.length} rows; at most ${limits.jobRowsMax} per job`);
  const names = new Set<string>();
  const out: NewRow[] = [];
  for (let i = 0; i < rows.length; i++) {
    const field = `source.rows[${i}]`;
    const row = rows[i]!;
    const name = row.name === "" ? defaultRowName(i) : checkRowName(row.name, `${field}.name`);
    if (names.has(name)) throw invalidArgument(`${field}.name`, `${name} is used by an earlier row`);
    names.add(name);
    const priceMicros = await checkRow(v, row.startFrame, row.actions, field);
    const f = row.startFrame!;
    const a = row.actions!;
    out.push({ name, priceMicros, start: { encoding: f.encoding, height: f.height, width: f.width, bytes: f.data }, actions: { shape: [...a.shape], bytes: a.data } });
  }
  return out;
}

export async function dirRows(v: RowValidation, jobsRoot: string, dir: string): Promise<NewRow[]> {
  const out: NewRow[] = [];
  for (const row of listDirRows(jobsRoot, dir)) {
    const { startFrame, actions } = dirRowInput(jobsRoot, row, `source.dir/${row.name}`);
    const priceMicros = await checkRow(v, startFrame, actions, `source.dir/${row.name}`);
    out.push({ name: row.name, priceMicros, startPath: row.startPath, actionsPath: row.actionsPath });
  }
  return out;
}

function dirRowInput(jobsRoot: string, row: { startPath: string; actionsPath: string }, field: string): { startFrame: Frame; actions: Actions } {
  const files = readDirRowFiles(jobsRoot, row);
  const npy = parseNpy(files.actions, `${field}.actions`);
  const startFrame: Frame = { encoding: files.startIsJpeg ? FrameEncoding.JPEG : FrameEncoding.PNG, data: files.start, height: 0, width: 0 };
  return { startFrame, actions: { shape: npy.shape, data: new Uint8Array(npy.data.buffer, npy.data.byteOffset, npy.data.byteLength) } };
}

/** A claimed row as a predict's start frame and candidates. */
export function rowInput(jobsRoot: string, row: RowRecord, entry: CatalogEntry): { startFrame: Frame; candidates: Actions[] } {
  if (row.start && row.actions) {
    const startFrame: Frame = { encoding: row.start.encoding as FrameEncoding, data: row.start.bytes, height: row.start.height, width: row.start.width };
    return { startFrame, candidates: splitActions({ shape: row.actions.shape, data: row.actions.bytes }, "actions", entry) };
  }
  const { startFrame, actions } = dirRowInput(jobsRoot, { startPath: row.startPath!, actionsPath: row.actionsPath! }, `source.dir/${row.name}`);
  return { startFrame, candidates: splitActions(actions, "actions", entry) };
}
