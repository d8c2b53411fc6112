// `npm run bench`: a quick pass of every bench (bench/suite-benches.ts), one child process each, in
// under 10 minutes on a 2-core VM, then the plots (bench/plot.ts). Each bench's rows, summary, command,
// machine, load and exit code go to bench/results/<date-time>/<bench>.json (its stderr beside it, as
// <bench>.stderr.log), so a run can be plotted or compared later. A bench that is missing or fails is
// listed as such and makes the suite exit non-zero: a quick pass that hides a broken bench is worse
// than none.
//   npm run bench [-- --only overhead,mpc] [--skip quality] [--out DIR] [--no-plot]
// overhead-480p (the 480p K=8 overhead row) is left out by default, as it would not fit the 10 minutes:
// name it in --only to run it, e.g. --only overhead,overhead-480p.
// Prints one JSON row per bench (status, duration, reason) and a summary line on stdout; the progress
// bar is on stderr, and children run with BENCH_PROGRESS=off so theirs do not garble it.
import fs from "node:fs";
import path from "node:path";
import { ROOT } from "./lib";
import { plotResults } from "./plot";
import { progress } from "./progress";
import { SUITE_BENCHES, selectBenches, type SuiteBench } from "./suite-benches";
import { gitState, machine, runBench, stopRunning, type BenchRecord } from "./suite-run";

function listArg(name: string): string[] | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith("--")) throw new Error(`--${name} needs a comma-separated list of bench names`);
  return v.split(",").filter(Boolean);
}

/** 2026-12-02T04-10-00Z: ISO 8601 with the colons swapped, which break Windows paths and scp's host:path. */
const runStamp = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, "Z").replace(/:/g, "-");

/**
 * The bar counts budgeted seconds (each bench's `budgetS`), so its ETA weighs a 90 s bench above a
 * 25 s one. A running bench advances its share by the clock, held just short of its budget if it
 * runs over; when it ends, the bar jumps to the end of its share.
 */
function suiteBar(benches: SuiteBench[]) {
  const total = benches.reduce((s, b) => s + b.budgetS, 0);
  const bar = progress("suite (budgeted s)", total);
  const suiteT0 = performance.now();
  let shown = 0;
  let doneBudget = 0;
  let timer: NodeJS.Timeout | undefined;
  const advanceTo = (value: number, note: string) => {
    bar.tick(Math.max(0, Math.floor(value) - shown), note);
    shown = Math.max(shown, Math.floor(value));
  };
  return {
    start(b: SuiteBench, index: number) {
      const t0 = performance.now();
      const tick = () => {
        const s = (performance.now() - t0) / 1000;
        advanceTo(doneBudget + Math.min(s, b.budgetS * 0.95), `${index + 1}/${benches.length} ${b.name} ${Math.round(s)} s, suite ${Math.round((performance.now() - suiteT0) / 1000)} s`);
      };
      tick();
      timer = setInterval(tick, 1000);
    },
    finish(b: SuiteBench) {
      clearInterval(timer);
      doneBudget += b.budgetS;
      advanceTo(doneBudget, `${b.name} done`);
    },
    stop: () => bar.stop(),
  };
}

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    stopRunning("SIGTERM");
    process.exit(130);
  });
}

async function main(): Promise<void> {
  const benches = selectBenches(listArg("only"), listArg("skip") ?? []);
  const started = new Date();
  const outArg = process.argv.indexOf("--out");
  const dir = outArg > 0 ? path.resolve(process.argv[outArg + 1]!) : path.join(ROOT, "bench", "results", runStamp(started));
  fs.mkdirSync(dir, { recursive: true });
  const bar = suiteBar(benches);
  const records: BenchRecord[] = [];
  const t0 = performance.now();
  for (const [i, b] of benches.entries()) {
    bar.start(b, i);
    const record = await runBench(b, { root: ROOT, stderrPath: path.join(dir, `${b.name}.stderr.log`) });
    bar.finish(b);
    fs.writeFileSync(path.join(dir, `${b.name}.json`), `${JSON.stringify(record, null, 2)}\n`);
    records.push(record);
  }
  bar.stop();
  const durationS = Math.round((performance.now() - t0) / 100) / 10;
  const suite = { command: ["npm", "run", "bench", ...(process.argv.length > 2 ? ["--", ...process.argv.slice(2)] : [])].join(" "), machine: machine(), git: gitState(ROOT), started_at: started.toISOString(), duration_s: durationS, results_dir: dir, benches: records.map(({ bench, status, reason, duration_s, command }) => ({ bench, status, reason, duration_s, command })) };
  fs.writeFileSync(path.join(dir, "suite.json"), `${JSON.stringify(suite, null, 2)}\n`);
  for (const r of suite.benches) process.stdout.write(`${JSON.stringify(r)}\n`);

  let plotNote = "plots not drawn (--no-plot)";
  let plotFailed = false;
  if (!process.argv.includes("--no-plot")) {
    try {
      const plots = await plotResults(dir, path.join(ROOT, "docs", "plots"));
      for (const s of plots.skipped) process.stderr.write(`plot ${s.plot} skipped: ${s.reason}\n`);
      plotNote = `plots: ${plots.written.length} written to docs/plots, ${plots.skipped.length} skipped (${plots.skipped.map((s) => s.plot).join(", ") || "none"})`;
    } catch (err) {
      plotFailed = true;
      plotNote = `plots FAILED: ${(err as Error).message}`;
      process.stderr.write(`${(err as Error).stack}\n`);
    }
  }
  const bad = records.filter((r) => r.status !== "ok");
  const notRun = SUITE_BENCHES.filter((b) => !benches.includes(b)).map((b) => `${b.name}${b.optIn ? " (opt-in)" : ""}`);
  const parts = records.map((r) => `${r.bench} ${r.status === "ok" ? "ok" : r.status.toUpperCase()} ${r.duration_s} s`);
  process.stdout.write(`summary: ${benches.length} benches in ${durationS} s (${(durationS / 60).toFixed(1)} min; budget 10 min): ${parts.join(", ")}. ${bad.length === 0 ? "All ran." : `Not ok: ${bad.map((r) => `${r.bench} (${r.reason})`).join("; ")}.`} ${notRun.length > 0 ? `Not run: ${notRun.join(", ")}. ` : ""}${plotNote}. Results: ${path.relative(ROOT, dir) || dir}\n`);
  if (bad.length > 0 || plotFailed) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
