// Messages between the embedded ledger's main-thread driver (pglite-thread.ts) and the worker thread
// that owns the PGlite instance (pglite-thread-worker.ts).
import type { Row } from "./sql-driver";

export const PGLITE_WORKER_KIND = "dream-pglite-ledger";

export interface PgliteWorkerInit {
  kind: typeof PGLITE_WORKER_KIND;
  /** Database files; undefined = in memory. The data-dir lock is the main thread's. */
  dir?: string;
}

/** tx: the transaction a statement belongs to (0 = none: PGlite queues it behind any open transaction). */
export type PgliteRequest =
  | { id: number; op: "query"; tx: number; sql: string; params: unknown[] }
  | { id: number; op: "exec"; tx: number; sql: string }
  /** Opens a transaction; the reply carries its number once BEGIN ran. */
  | { id: number; op: "begin" }
  /** Ends transaction `tx`: COMMIT, or ROLLBACK when the main thread's callback threw. */
  | { id: number; op: "end"; tx: number; commit: boolean }
  | { id: number; op: "close" };

/** A Postgres error's own fields (code, detail, constraint, …) travel with it: callers read SQLSTATE. */
export interface PgliteWireError {
  message: string;
  name: string;
  fields: Record<string, string | number | undefined>;
}

export type PgliteReply = { id: number; ok: true; rows?: Row[]; tx?: number } | { id: number; ok: false; error: PgliteWireError };

export type PgliteStatus = { status: "ready" } | { status: "open-failed"; error: PgliteWireError };
