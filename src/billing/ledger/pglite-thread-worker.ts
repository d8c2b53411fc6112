// The worker thread that owns the embedded ledger's PGlite (Postgres in WASM). Its SQL, its protocol
// codec and its WASM run here, not on the thread that serves gRPC and HTTP: measured under a job of
// uploaded rows they were over half of the serving thread's CPU, and every control loop's event-loop
// turn waited behind them. Statements run in PGlite's own queue; a transaction holds the database
// until the main thread ends it, exactly as in-process.
import { PGlite } from "@electric-sql/pglite";
import { parentPort, workerData } from "node:worker_threads";
import { driverOver } from "./pglite-driver";
import { PGLITE_WORKER_KIND, type PgliteReply, type PgliteRequest, type PgliteStatus, type PgliteWireError, type PgliteWorkerInit } from "./pglite-thread-protocol";
import type { Queryable } from "./sql-driver";

interface OpenTx {
  tx: Queryable;
  end: (commit: boolean) => void;
  settled: Promise<void>;
}

function wire(err: unknown): PgliteWireError {
  if (!(err instanceof Error)) return { message: String(err), name: "Error", fields: {} };
  const fields: Record<string, string | number | undefined> = {};
  for (const [k, v] of Object.entries(err)) if (typeof v === "string" || typeof v === "number") fields[k] = v;
  return { message: err.message, name: err.name, fields };
}

/** Thrown inside PGlite's transaction callback to get its ROLLBACK; not an error to report. */
class RolledBack extends Error {}

async function main(init: PgliteWorkerInit): Promise<void> {
  const port = parentPort!;
  let db: PGlite;
  try {
    db = init.dir === undefined ? await PGlite.create() : await PGlite.create(init.dir);
  } catch (err) {
    port.postMessage({ status: "open-failed", error: wire(err) } satisfies PgliteStatus);
    return;
  }
  // The in-process driver runs every statement (and its bytea codec); this thread only relays.
  const driver = driverOver(db, undefined);
  const txs = new Map<number, OpenTx>();
  let nextTx = 1;
  const target = (tx: number): Queryable => {
    if (tx === 0) return driver;
    const open = txs.get(tx);
    if (open === undefined) throw new Error(`transaction ${tx} is not open`);
    return open.tx;
  };

  /** Resolves with the transaction's number once BEGIN ran (PGlite queues it behind an open one). */
  function begin(): Promise<number> {
    const tx = nextTx++;
    return new Promise<number>((opened, failed) => {
      let end!: (commit: boolean) => void;
      const ended = new Promise<boolean>((resolve) => (end = resolve));
      const settled = driver
        .transaction(async (t) => {
          txs.set(tx, { tx: t, end, settled });
          opened(tx);
          if (!(await ended)) throw new RolledBack();
        })
        .then(
          () => undefined,
          (err: unknown) => {
            if (!(err instanceof RolledBack)) throw err;
          },
        )
        .finally(() => txs.delete(tx));
      settled.catch(failed); // BEGIN itself failed (the callback never ran); later failures go to "end"
    });
  }

  async function handle(req: PgliteRequest): Promise<PgliteReply> {
    switch (req.op) {
      case "query":
        return { id: req.id, ok: true, rows: await target(req.tx).query(req.sql, req.params) };
      case "exec":
        await target(req.tx).exec(req.sql);
        return { id: req.id, ok: true };
      case "begin":
        return { id: req.id, ok: true, tx: await begin() };
      case "end": {
        const open = txs.get(req.tx);
        if (open === undefined) throw new Error(`transaction ${req.tx} is not open`);
        open.end(req.commit);
        await open.settled; // COMMIT's own failure (e.g. a deferred constraint) rejects here
        return { id: req.id, ok: true };
      }
      case "close":
        await driver.close();
        return { id: req.id, ok: true };
    }
  }

  port.on("message", (req: PgliteRequest) => {
    handle(req).then(
      (reply) => port.postMessage(reply),
      (err: unknown) => port.postMessage({ id: req.id, ok: false, error: wire(err) } satisfies PgliteReply),
    );
  });
  port.postMessage({ status: "ready" } satisfies PgliteStatus);
}

const init = workerData as PgliteWorkerInit | undefined;
if (parentPort !== null && init?.kind === PGLITE_WORKER_KIND) void main(init);
