// Runs one bench of the suite as a child process (`npm run <script> -- <args>`) and turns what it
// printed into the record the suite writes to <results-dir>/<name>.json. A bench whose npm script or
// file is not there is recorded as missing, and one that exits non-zero, times out, prints no summary
// or prints JSON that does not parse as failed: the suite reports those, it never drops them.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { commandLine, type SuiteBench } from "./suite-benches";
import { parseBenchOutput } from "./suite-parse";

export interface Machine {
  cpu: string;
  cores: number;
  memory_gb: number;
  platform: string;
  node: string;
}

/** The code measured: HEAD, and the tracked files that differed from it (others' work in progress counts). */
export interface GitState {
  commit: string;
  modified: string[];
}

export function gitState(root: string): GitState {
  const git = (...args: string[]) => execFileSync("git", args, { cwd: root, encoding: "utf8" });
  try {
    // Porcelain lines are "XY path": the status columns may be blank, so the text is not trimmed.
    return { commit: git("rev-parse", "--short=12", "HEAD").trim(), modified: git("status", "--porcelain", "--untracked-files=no").split("\n").filter(Boolean).map((l) => l.slice(3)) };
  } catch {
    return { commit: "unknown (not a git checkout)", modified: [] };
  }
}

export interface BenchRecord {
  bench: string;
  status: "ok" | "failed" | "missing";
  /** Why it is not ok; absent when it is. */
  reason?: string;
  command: string;
  machine: Machine;
  git: GitState;
  load_avg_before: number[];
  load_avg_after: number[];
  started_at: string;
  duration_s: number;
  exit_code: number | null;
  signal: string | null;
  rows: Record<string, unknown>[];
  summary: string | null;
  stderr_tail: string[];
}

export function machine(): Machine {
  const cpus = os.cpus();
  return { cpu: cpus[0]?.model ?? "unknown", cores: cpus.length, memory_gb: Math.round(os.totalmem() / 2 ** 30), platform: `${os.platform()} ${os.release()}`, node: process.version };
}

const loadAvg = (): number[] => os.loadavg().map((x) => Math.round(x * 100) / 100);

const STDERR_TAIL_LINES = 30;
const STDERR_TAIL_BYTES = 16_384;

/** Why a bench cannot run: no npm script, or the .ts file its script runs is absent (a script can land before its file). */
function missingReason(root: string, b: SuiteBench): string | undefined {
  const scripts = (JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { scripts?: Record<string, string> }).scripts ?? {};
  const script = scripts[b.script];
  if (script === undefined) return `no npm script "${b.script}" in package.json`;
  const file = /\S+\.ts\b/.exec(script)?.[0];
  if (file !== undefined && !fs.existsSync(path.join(root, file))) return `npm script "${b.script}" runs ${file}, which does not exist`;
  return undefined;
}

/** Process groups of the benches running now, so an interrupted suite can end them too. */
const running = new Set<number>();

/** Ctrl-C on the suite: the benches run in their own process groups, which the terminal's signal misses. */
export function stopRunning(sig: NodeJS.Signals): void {
  for (const pid of running) {
    try {
      process.kill(-pid, sig);
    } catch {
      /* already gone */
    }
  }
}

export interface RunOptions {
  root: string;
  /** Where the child's whole stderr goes (the record keeps only its tail). */
  stderrPath: string;
}

export async function runBench(b: SuiteBench, opts: RunOptions): Promise<BenchRecord> {
  const base = { command: commandLine(b), machine: machine(), git: gitState(opts.root), load_avg_before: loadAvg(), started_at: new Date().toISOString() };
  const missing = missingReason(opts.root, b);
  if (missing !== undefined) return { bench: b.name, status: "missing", reason: missing, ...base, load_avg_after: loadAvg(), duration_s: 0, exit_code: null, signal: null, rows: [], summary: null, stderr_tail: [] };

  const t0 = performance.now();
  // Its own process group, so a timeout ends npm, its shell and the bench (and the server it started).
  // BENCH_PROGRESS=off: a child's bar on the same terminal would garble the suite's.
  const child = spawn("npm", ["run", b.script, ...(b.args.length > 0 ? ["--", ...b.args] : [])], { cwd: opts.root, env: { ...process.env, BENCH_PROGRESS: "off" }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const stderrFile = fs.createWriteStream(opts.stderrPath);
  let stdout = "";
  let stderrEnd = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => {
    stderrFile.write(s);
    stderrEnd = (stderrEnd + s).slice(-STDERR_TAIL_BYTES);
  });
  let timedOut = false;
  running.add(child.pid!);
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      /* already gone */
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    signalGroup("SIGTERM");
    setTimeout(() => signalGroup("SIGKILL"), 10_000).unref();
  }, b.timeoutS * 1000);
  const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (c, s) => resolve({ code: c, signal: s }));
  });
  clearTimeout(timer);
  running.delete(child.pid!);
  await new Promise((r) => stderrFile.end(r));

  const parsed = parseBenchOutput(stdout);
  const reason = timedOut
    ? `timed out after ${b.timeoutS} s`
    : code !== 0
      ? `exited with ${code ?? signal}`
      : parsed.unparsed.length > 0
        ? `${parsed.unparsed.length} stdout block(s) starting with "{" did not parse as JSON: ${parsed.unparsed[0]}`
        : parsed.summary === undefined
          ? "printed no summary: line"
          : undefined;
  return {
    bench: b.name,
    status: reason === undefined ? "ok" : "failed",
    ...(reason === undefined ? {} : { reason }),
    ...base,
    load_avg_after: loadAvg(),
    duration_s: Math.round((performance.now() - t0) / 100) / 10,
    exit_code: code,
    signal,
    rows: parsed.rows,
    summary: parsed.summary ?? null,
    stderr_tail: stderrEnd.split(/\r?\n/).filter(Boolean).slice(-STDERR_TAIL_LINES),
  };
}
