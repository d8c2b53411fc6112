// results.jsonl: one line per row, derived from the database and rewritten whole (temp file + rename),
// so after a crash and resume every row appears exactly once, in row order.
import path from "node:path";
import { rowRequestId, type RowRecord } from "./types";
import { writeFileAtomic } from "./sink";

export interface ResultLine {
  row: number;
  name: string;
  request_id: string;
  frames: number;
  cost_micros: number;
  state: RowRecord["state"];
  error: string;
}

export function resultLine(r: RowRecord): ResultLine {
  return { row: r.rowIndex, name: r.name, request_id: rowRequestId(r.jobId, r.rowIndex, r.requestGen), frames: r.frames, cost_micros: r.costMicros, state: r.state, error: r.error };
}

export function resultsText(rows: readonly RowRecord[]): string {
  return rows.map((r) => JSON.stringify(resultLine(r))).join("\n") + (rows.length > 0 ? "\n" : "");
}

export async function writeResults(sinkDir: string, rows: readonly RowRecord[]): Promise<void> {
  await writeFileAtomic(path.join(sinkDir, "results.jsonl"), resultsText(rows));
}
