// Messages between the runner (main thread) and its worker thread (gpu/worker.ts).
import type { ErrorDetails, Reason } from "../src/core/errors";
import type { CatalogEntry } from "../src/config/catalog";
import type { EncodeItem, ScorerKind, StepLane } from "../src/scheduler/executor";

export const WORKER_KIND = "dream-ort-runner";

export interface WorkerInit {
  kind: typeof WORKER_KIND;
  modelDir: string;
  entry: CatalogEntry;
  executionProvider: string;
  intraOpThreads?: number;
  /** ORT intra-op spinning (gpu/sessions.ts createSession); off unless asked. */
  spinning?: boolean;
  /** Lanes of the warm-up step (pre-grows ORT's arena); 1 by default. */
  warmLanes: number;
  /**
   * Int32[1] shared with the runner: holding a run's request id means "stop that run at its next chunk
   * boundary". Shared memory, not a message: the worker is busy inside the run and reads no messages.
   */
  interrupt: SharedArrayBuffer;
  /**
   * Int32[1] of this worker alone: non-zero means "exit now" (the runner abandoned this worker). The
   * worker reads it between native calls and exits from JavaScript. The runner never terminate()s a
   * worker that may be inside onnxruntime: a terminated thread whose native run then returns aborts
   * the whole process ("terminate called after throwing an instance of 'Napi::Error'").
   */
  lifeline: SharedArrayBuffer;
}

/** The exit code of a worker that left because its lifeline was set (closed, killed or abandoned). */
export const WORKER_EXIT_LIFELINE = 71;

export type FaultKind = "throw" | "crash" | "hang";

export type Request =
  | { id: number; op: "encode"; items: EncodeItem[] }
  /** Encode, then `chunks` chunks back to back (executor StepRun); one "chunk" reply per chunk, then the final reply. */
  | { id: number; op: "run"; numSteps: number; lanes: StepLane[]; chunks: number; encode?: EncodeItem[] }
  | { id: number; op: "release"; keys: string[] }
  /** frames: uint8 [count, H, W, 3]; cloned, not transferred (the runner keeps a copy to replay after a restart). */
  | { id: number; op: "setGoal"; goalKey: string; frames: Uint8Array; count: number }
  | { id: number; op: "releaseGoal"; keys: string[] }
  | { id: number; op: "fault"; kind: FaultKind; atStep: number }
  /** Wakes an idle worker to read its lifeline (a busy one reads it between native calls). */
  | { id: number; op: "exit" };

export interface WireError {
  message: string;
  /** Set when the worker threw a ServiceError (e.g. a missing state). */
  reason?: Reason;
  details?: ErrorDetails;
}

export type Reply =
  | { id: number; ok: true; chunksRun?: number }
  /** One finished chunk of a run (`chunk` counts from 0 within the run); the run's final reply follows. */
  | { id: number; ok: true; chunk: number; frames: Uint8Array; computeUs: number; costs?: Float32Array }
  /** encodeFailed: a run failed in its encode, before any chunk. */
  | { id: number; ok: false; error: WireError; encodeFailed?: boolean };

export type Status = { status: "ready"; latentSize: number; warmMs: number; scorers: Record<string, ScorerKind> } | { status: "load-failed"; error: WireError };
