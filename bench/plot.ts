// `npm run bench:plot -- <results-dir> [--out docs/plots]`: draws the suite's plots (bench/plot-list.ts)
// from one results folder that `npm run bench` wrote (bench/results/<date-time>/<bench>.json) into
// SVGs. A plot whose rows are absent is skipped with the reason printed; the SVG from an earlier run
// is left as it was, since its subtitle says which run it shows.
import fs from "node:fs";
import path from "node:path";
import { ROOT } from "./lib";
import { renderSvg } from "./plot-render";
import { PLOTS } from "./plot-list";
import type { ResultRecord } from "./plot-common";

export interface PlotOutcome {
  written: string[];
  skipped: { plot: string; reason: string }[];
}

export function readResults(dir: string): Map<string, ResultRecord> {
  const results = new Map<string, ResultRecord>();
  for (const f of fs.readdirSync(dir)) {
    if (!f.endsWith(".json") || f === "suite.json") continue;
    const record = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as ResultRecord;
    results.set(record.bench, record);
  }
  return results;
}

export async function plotResults(dir: string, outDir: string): Promise<PlotOutcome> {
  const results = readResults(dir);
  const outcome: PlotOutcome = { written: [], skipped: [] };
  fs.mkdirSync(outDir, { recursive: true });
  for (const plot of PLOTS) {
    const spec = plot.build(results);
    if (typeof spec === "string") {
      outcome.skipped.push({ plot: plot.name, reason: spec });
      continue;
    }
    const file = path.join(outDir, `${plot.name}.svg`);
    fs.writeFileSync(file, await renderSvg(spec));
    outcome.written.push(file);
  }
  return outcome;
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (dir === undefined || dir.startsWith("--")) throw new Error("usage: npm run bench:plot -- <results-dir> [--out DIR]");
  const outArg = process.argv.indexOf("--out");
  const outDir = outArg > 0 ? path.resolve(process.argv[outArg + 1]!) : path.join(ROOT, "docs", "plots");
  const { written, skipped } = await plotResults(path.resolve(dir), outDir);
  for (const f of written) process.stdout.write(`wrote ${path.relative(ROOT, f)}\n`);
  for (const s of skipped) process.stdout.write(`skipped ${s.plot}: ${s.reason}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
