// What a job's create said, as one hash: kept with the job so that repeating a create that stopped
// part-way (its rows go in short statements) can be told apart from a different job under the same id.
import { createHash, type Hash } from "node:crypto";
import type { NewJob, NewRow } from "./types";

export type JobContent = Pick<NewJob, "model" | "params" | "output" | "sinkDir" | "budgetMicros" | "priority"> & { rows: readonly NewRow[] };

/** sha256 (hex) over the job's settings and every row, each field length-prefixed so no two contents collide by concatenation. */
export function jobContentDigest(job: JobContent): string {
  const h = createHash("sha256");
  field(h, JSON.stringify([job.model, job.params, job.output, job.sinkDir, job.budgetMicros, job.priority, job.rows.length]));
  for (const r of job.rows) {
    field(h, JSON.stringify([r.name, r.priceMicros, r.start?.encoding ?? null, r.start?.height ?? null, r.start?.width ?? null, r.actions?.shape ?? null, r.startPath ?? null, r.actionsPath ?? null]));
    field(h, r.start?.bytes);
    field(h, r.actions?.bytes);
  }
  return h.digest("hex");
}

function field(h: Hash, value: string | Uint8Array | undefined): void {
  const data = value === undefined ? undefined : typeof value === "string" ? Buffer.from(value) : value;
  const len = Buffer.alloc(8);
  len.writeBigInt64LE(data === undefined ? -1n : BigInt(data.byteLength));
  h.update(len);
  if (data !== undefined) h.update(data);
}
