// The embedded ledger's SqlDriver over PGlite running in a worker thread (pglite-thread-worker.ts):
// the same SQL and transaction semantics as the in-process driver, with PGlite's CPU off the thread
// that serves requests. Each statement is one message each way.
import type { Worker } from "node:worker_threads";
import { startModuleWorker } from "../../core/ts-worker";
import { lockDataDir, type DirLock } from "./data-dir-lock";
import { PGLITE_WORKER_KIND, type PgliteReply, type PgliteRequest, type PgliteStatus, type PgliteWireError, type PgliteWorkerInit } from "./pglite-thread-protocol";
import type { Queryable, Row, SqlDriver } from "./sql-driver";

type Send = { [K in PgliteRequest["op"]]: Omit<Extract<PgliteRequest, { op: K }>, "id"> }[PgliteRequest["op"]];

/** Rebuilds a worker-side error with its Postgres fields (code, detail, …), so sqlState() reads it. */
function unwire(e: PgliteWireError): Error {
  const err = Object.assign(new Error(e.message), e.fields);
  err.name = e.name;
  return err;
}

class PgliteThread {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: PgliteReply & { ok: true }) => void; reject: (e: Error) => void }>();
  private failure: Error | null = null;

  constructor(private readonly worker: Worker) {
    worker.on("message", (reply: PgliteReply) => {
      const p = this.pending.get(reply.id);
      if (p === undefined) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply);
      else p.reject(unwire(reply.error));
    });
    const lost = (why: string) => {
      this.failure ??= new Error(`the embedded ledger's PGlite thread ${why}`);
      for (const p of this.pending.values()) p.reject(this.failure);
      this.pending.clear();
    };
    worker.on("error", (err) => lost(`failed: ${err.message}`));
    worker.on("exit", (code) => lost(`exited (code ${code})`));
  }

  call(req: Send): Promise<PgliteReply & { ok: true }> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id } as PgliteRequest);
    });
  }
}

function queryable(thread: PgliteThread, tx: number): Queryable {
  return {
    query: async <T extends Row>(sql: string, params?: unknown[]) => ((await thread.call({ op: "query", tx, sql, params: params ?? [] })).rows ?? []) as T[],
    exec: async (sql: string) => void (await thread.call({ op: "exec", tx, sql })),
  };
}

/** Opens PGlite in a worker thread (a directory, under its pid lock, or in memory). */
export async function openPgliteThreadDriver(options: { dir?: string }): Promise<SqlDriver> {
  const lock: DirLock | undefined = options.dir === undefined ? undefined : lockDataDir(options.dir);
  const init: PgliteWorkerInit = { kind: PGLITE_WORKER_KIND, ...(options.dir !== undefined ? { dir: options.dir } : {}) };
  const worker = startModuleWorker(__dirname, "pglite-thread-worker", { workerData: init });
  // Only our own listeners come off: Worker.removeAllListeners() also drops the internal ones that
  // deliver its messages (later replies never arrive).
  let onMessage!: (s: PgliteStatus) => void;
  let onError!: (e: Error) => void;
  let onExit!: (code: number) => void;
  try {
    const status = await new Promise<PgliteStatus>((resolve, reject) => {
      onMessage = resolve;
      onError = reject;
      onExit = (code) => reject(new Error(`the embedded ledger's PGlite thread exited (code ${code}) while opening`));
      worker.once("message", onMessage).once("error", onError).once("exit", onExit);
    });
    if (status.status === "open-failed") throw unwire(status.error);
  } catch (err) {
    await worker.terminate(); // WASM and JavaScript only: terminate() is safe here
    lock?.release();
    throw err;
  } finally {
    worker.off("message", onMessage).off("error", onError).off("exit", onExit);
  }
  const thread = new PgliteThread(worker);
  return {
    kind: "pglite",
    ...queryable(thread, 0),
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const { tx } = await thread.call({ op: "begin" });
      let result: T;
      try {
        result = await fn(queryable(thread, tx!));
      } catch (err) {
        await thread.call({ op: "end", tx: tx!, commit: false }).catch(() => undefined); // the callback's error is the one to report
        throw err;
      }
      await thread.call({ op: "end", tx: tx!, commit: true });
      return result;
    },
    async close() {
      try {
        await thread.call({ op: "close" });
      } finally {
        await worker.terminate();
        lock?.release();
      }
    },
  };
}
