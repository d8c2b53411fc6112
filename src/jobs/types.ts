// Job and row records as the store keeps them. Money in integer micro-USD; times in epoch ms.

export type JobStateName = "pending" | "running" | "succeeded" | "failed" | "cancelled" | "budget_exhausted";
export type RowStateName = "pending" | "running" | "done" | "failed";

/** States in which a job's rows may still be claimed. */
export const RUNNABLE_JOB_STATES: readonly JobStateName[] = ["pending", "running"];

export interface JobKey {
  customerId: string;
  jobId: string;
}

export interface RowKey extends JobKey {
  rowIndex: number;
}

/** An uploaded start frame, as the CreateJob message carried it. */
export interface StoredFrame {
  encoding: number;
  height: number;
  width: number;
  bytes: Uint8Array;
}

/** Uploaded actions: [T, D] or [K, T, D] float32 little-endian. */
export interface StoredActions {
  shape: number[];
  bytes: Uint8Array;
}

export interface NewRow {
  name: string;
  /** The hold one predict of this row takes: K × (T+1) × the model's price per frame. */
  priceMicros: number;
  start?: StoredFrame;
  actions?: StoredActions;
  /** Dir rows: files relative to the jobs root. */
  startPath?: string;
  actionsPath?: string;
}

export interface NewJob extends JobKey {
  keyId: string;
  model: string;
  /** JSON of the sampling params and output options (the proto's JSON form). */
  params: string;
  output: string;
  /** What the rows came from, for people: "dir:<path>" or "upload". */
  source: string;
  sinkDir: string;
  budgetMicros: number;
  priority: number;
  atMs: number;
  rows: NewRow[];
  /** jobContentDigest of this create (digest.ts). */
  contentDigest: string;
}

export interface JobRecord extends JobKey {
  keyId: string;
  model: string;
  params: string;
  output: string;
  source: string;
  sinkDir: string;
  budgetMicros: number;
  priority: number;
  state: JobStateName;
  error: string;
  rowsTotal: number;
  /** What the create said (digest.ts); '' on jobs created before it was kept. */
  contentDigest: string;
  firstStartedAtMs: number | null;
  createdAtMs: number;
  updatedAtMs: number;
}

export interface RowRecord extends RowKey {
  name: string;
  /** Bumped whenever the row's request id was spent without a posted charge (voided, expired). */
  requestGen: number;
  state: RowStateName;
  attempts: number;
  priceMicros: number;
  frames: number;
  costMicros: number;
  error: string;
  claimedBy: string | null;
  leaseUntilMs: number | null;
  start: StoredFrame | null;
  actions: StoredActions | null;
  startPath: string | null;
  actionsPath: string | null;
  startedAtMs: number | null;
  finishedAtMs: number | null;
}

export interface RowCounts {
  pending: number;
  running: number;
  done: number;
  failed: number;
  frames: number;
  costMicros: number;
  /** Rows in the database, whatever their state (rows_total once the job's creation finished). */
  written: number;
  /** Latest finish among ended rows (rates are measured up to it once the job ended). */
  lastFinishedAtMs: number | null;
}

/** One claimed row, with its job, for a runner to run. */
export interface Claim {
  job: JobRecord;
  row: RowRecord;
}

/** The row's engine request id: deterministic, so a resumed row finds its own hold and charge. */
export function rowRequestId(jobId: string, rowIndex: number, requestGen: number): string {
  const base = `job-${jobId}-row-${rowIndex}`;
  return requestGen === 0 ? base : `${base}-r${requestGen}`;
}
