// Shared bench helpers: start the real server as a child process, percentiles, JSON + summary output.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SERVER_ENTRY_ARGS, SERVER_NODE_FLAGS } from "../src/core/node-flags";

export const ROOT = path.resolve(__dirname, "..");

export interface ServerProcess {
  grpcAddress: string;
  httpBase: string;
  apiKey: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const net = await import("node:net");
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * `npm start` equivalent on embedded defaults in a temp data dir; resolves once /healthz is ready.
 * BENCH_SERVER_NODE_ARGS adds node flags to the server only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"
 * (node refuses --cpu-prof in NODE_OPTIONS). They follow the server's own flags (src/core/node-flags.ts),
 * so a later value wins: "--initial-old-space-size=0" runs the server on V8's default heap sizing.
 * BENCH_SERVER_STDOUT=1 passes the server's stdout through (for --trace-gc).
 */
export async function startServer(env: Record<string, string> = {}, readyTimeoutMs = 180_000): Promise<ServerProcess> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-bench-"));
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, ...nodeArgs, ...SERVER_ENTRY_ARGS], {
    cwd: ROOT,
    env: { ...process.env, DREAM_DATA_DIR: dataDir, DREAM_GRPC_ADDR: `127.0.0.1:${grpcPort}`, DREAM_HTTP_ADDR: `127.0.0.1:${httpPort}`, DREAM_STARTER_CREDITS_USD: "10000", DREAM_LOG_LEVEL: "warn", DATABASE_URL: "", REDIS_URL: "", ...env },
    stdio: ["ignore", process.env.BENCH_SERVER_STDOUT ? "inherit" : "ignore", "inherit"],
  });
  const httpBase = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${httpBase}/healthz`);
      const body = (await res.json()) as { ready?: boolean };
      if (body.ready && fs.existsSync(path.join(dataDir, "starter-key.txt"))) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      // Not left running behind a failed bench (it holds ports, ORT workers and ledger connections).
      child.kill("SIGKILL");
      throw new Error("server did not become ready");
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const apiKey = fs.readFileSync(path.join(dataDir, "starter-key.txt"), "utf8").trim();
  return {
    grpcAddress: `127.0.0.1:${grpcPort}`,
    httpBase,
    apiKey,
    child,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** A `kB` field (VmRSS, VmHWM) of another process's /proc/<pid>/status; undefined where absent. */
export function procStatusKb(pid: number, field: "VmRSS" | "VmHWM"): number | undefined {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : undefined;
}

/** Resets the kernel's peak-RSS mark (VmHWM) of `pid` to its current RSS (Linux >= 4.0); false where not permitted. */
export function resetPeakRss(pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

export function peakRssMb(): number {
  return round(process.resourceUsage().maxRSS / 1024, 0);
}

export function argString(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? String(process.argv[i + 1]) : fallback;
}

export function argInt(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/** CPU time the hypervisor gave to other guests ("steal") and all CPU time, in jiffies; undefined off Linux. */
function cpuJiffies(): { steal: number; total: number } | undefined {
  try {
    const fields = fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    return { steal: fields[7] ?? 0, total: fields.reduce((a, b) => a + b, 0) };
  } catch {
    return undefined;
  }
}

/**
 * Runs `fn` and reports the share (percent) of this machine's CPU time stolen by the hypervisor
 * meanwhile. On a shared VM a measurement taken under heavy steal says more about the neighbours than
 * about the code, so benches print it beside every timing.
 */
export async function withSteal<T>(fn: () => Promise<T>): Promise<{ value: T; stealPct: number }> {
  const before = cpuJiffies();
  const value = await fn();
  const after = cpuJiffies();
  const total = before && after ? after.total - before.total : 0;
  return { value, stealPct: total > 0 ? round((100 * (after!.steal - before!.steal)) / total) : 0 };
}
