// What `npm run bench` runs: every bench once, narrowed so the whole pass fits in 10 minutes on a
// 2-core VM. Each entry is the npm script a person would type, so the command recorded in the results
// is the one to rerun. `budgetS` is about what the bench took in a suite run on that VM; it weighs
// the suite's progress bar and ETA. `timeoutS` ends a bench that hangs so the suite still
// finishes and reports it as failed.

export interface SuiteBench {
  /** Also the results file's name: <results-dir>/<name>.json. */
  name: string;
  script: string;
  args: string[];
  budgetS: number;
  timeoutS: number;
  /** Left out of a plain `npm run bench` (it would not fit the 10 minutes); `--only <name>` runs it. */
  optIn?: boolean;
}

// Budgets from a suite run at 04:00 UTC with the VM's load average at 8–14 (other work on the same 2
// cores): overhead 28 s, overhead-480p 204 s, saturation 249 s, mpc 63 s, codecs 7 s, billing 25 s,
// http 36 s, quality 134 s (alone, just after).
export const SUITE_BENCHES: readonly SuiteBench[] = [
  // The tiny model's fixed per-request costs; 2 reps of K=1 and K=8.
  { name: "overhead", script: "bench:overhead", args: ["--reps", "2", "--models", "dream-reference-tiny", "--ks", "1,8"], budgetS: 30, timeoutS: 120 },
  // The target row (480p, K=8) once: ~8 s a rollout on a quiet VM, and the bench runs it 5 times per
  // rep (served, stream, direct, client receive off and on) after a warm-up of each path; 204 s in
  // the run above, a third of the budget on its own, so opt-in.
  { name: "overhead-480p", script: "bench:overhead", args: ["--reps", "1", "--models", "dream-reference-480p", "--ks", "8"], budgetS: 210, timeoutS: 400, optIn: true },
  { name: "saturation", script: "bench:saturation", args: ["--quick"], budgetS: 250, timeoutS: 420 },
  // The tiny model only: a 480p decision is ~10 s, and 5 modes x 4 decisions would be most of the budget.
  { name: "mpc", script: "bench:mpc", args: ["--models", "dream-reference-tiny", "--decisions", "8"], budgetS: 55, timeoutS: 180 },
  // Encode cost on 12 frames and JPEG against the bare libvips floor, 3 reps (10.5 s under load 11);
  // the stream and memory parts are left out: each runs several 480p rollouts.
  { name: "codecs", script: "bench:codecs", args: ["--parts", "encode,jpeg", "--frames", "12", "--jpeg-reps", "3"], budgetS: 15, timeoutS: 120 },
  { name: "billing", script: "bench:billing", args: ["--ops", "2000", "--full-ops", "200", "--max-seconds", "2"], budgetS: 30, timeoutS: 150 },
  { name: "http", script: "bench:http", args: ["--reps", "3"], budgetS: 35, timeoutS: 150 },
  { name: "fresh-memory", script: "bench:fresh-memory", args: ["--rounds", "3"], budgetS: 10, timeoutS: 60 },
  // A job's creation against a control loop's ledger work on the embedded ledger (~6 s).
  { name: "jobs-ledger", script: "bench:jobs-ledger", args: ["--reps", "3"], budgetS: 8, timeoutS: 60 },
  // --no-write: a quick pass must not rewrite gpu/quality.json and docs/RESULTS.md, the full run's record.
  { name: "quality", script: "quality", args: ["--quick", "--no-write"], budgetS: 135, timeoutS: 360 },
];

/** `npm run <script> -- <args>`, as typed. */
export function commandLine(b: SuiteBench): string {
  return ["npm", "run", b.script, ...(b.args.length > 0 ? ["--", ...b.args] : [])].join(" ");
}

/**
 * The benches `--only a,b` / `--skip c` leave, in suite order (opt-in ones only when named in --only);
 * an unknown name is an error, not a no-op.
 */
export function selectBenches(only: string[] | undefined, skip: string[]): SuiteBench[] {
  const known = new Set(SUITE_BENCHES.map((b) => b.name));
  for (const n of [...(only ?? []), ...skip]) if (!known.has(n)) throw new Error(`no bench named ${n} (known: ${[...known].join(", ")})`);
  return SUITE_BENCHES.filter((b) => (only === undefined ? !b.optIn : only.includes(b.name)) && !skip.includes(b.name));
}
