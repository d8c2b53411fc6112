// What every plot shares: a plot is a pure function from the suite's result records to a vega-lite
// spec, or to the reason it cannot be drawn (its bench is absent, or printed none of the rows
// it needs). A plot with no rows is skipped and says why; it is never drawn from made-up data.
import type { TopLevelSpec } from "vega-lite";

/** The part of a suite record (bench/suite-run.ts) a plot reads. */
export interface ResultRecord {
  bench: string;
  status: string;
  reason?: string;
  command: string;
  started_at: string;
  machine: { cpu: string; cores: number; memory_gb: number };
  /** Absent in records from before the suite recorded it. */
  git?: { commit: string; modified: string[] };
  load_avg_before: number[];
  load_avg_after: number[];
  rows: Record<string, unknown>[];
}

export type Results = ReadonlyMap<string, ResultRecord>;

export interface Plot {
  /** docs/plots/<name>.svg */
  name: string;
  title: string;
  build(results: Results): TopLevelSpec | string;
}

export const WIDTH = 320;
export const HEIGHT = 220;
export const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

/**
 * Date, machine and command, so an SVG read alone still says where its figures come from; and, for a
 * bench that failed after printing rows (bench:quality exits 1 when a composition was not exercised),
 * that it failed and why: its rows are measurements all the same, drawn with the warning beside them.
 */
export function subtitle(r: ResultRecord): string[] {
  const load = (xs: number[]) => (xs[0] ?? NaN).toFixed(2);
  return [
    `${r.started_at.replace("T", " ").replace(/\.\d+Z$/, " UTC")} · ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memory_gb} GB · load ${load(r.load_avg_before)} → ${load(r.load_avg_after)}`,
    `${r.command}${r.git ? ` · at ${r.git.commit}${r.git.modified.length > 0 ? ` + ${r.git.modified.length} modified tracked file(s)` : ""}` : ""}`,
    ...(r.status === "ok" ? [] : [`NOTE: this run of ${r.bench} ${r.status}${r.reason ? ` (${r.reason})` : ""}; the rows it printed are drawn as they are`]),
  ];
}

/** The record's rows, or why there are none to plot. */
export function rowsOf(results: Results, bench: string, keep: (row: Record<string, unknown>) => boolean): { record: ResultRecord; rows: Record<string, unknown>[] } | string {
  const record = results.get(bench);
  if (record === undefined) return `no ${bench}.json in the results folder`;
  const rows = record.rows.filter(keep);
  if (rows.length === 0) return record.status === "ok" ? `${bench} printed no rows this plot can use` : `${bench} ${record.status} in this run${record.reason ? ` (${record.reason})` : ""} and printed no rows this plot can use`;
  return { record, rows };
}

export const num = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

