// What bench:saturation reads from the server process per point: its CPU time (/proc/<pid>/stat
// utime+stime, every thread, the ONNX runner workers included), its peak RSS (VmHWM, reset with
// clear_refs "5" at the start of the point) and, sampled from GET /v1/status while the point runs,
// the lanes in flight and the queue depth of the model under load.
//
// What the server does not expose, and so is not invented here: the distribution of engine step
// (batch) sizes, and per-interval batch totals. /v1/status has mean_batch_size only as a rolling
// 1-minute window, which overlaps the previous point; it is recorded as such, labelled.
import fs from "node:fs";
import { procStatusKb, resetPeakRss, round } from "./lib";

const CLOCK_TICKS_PER_S = 100; // USER_HZ on Linux x86-64/arm64

export function procCpuS(pid: number): number {
  // Fields after the ")" of comm: state is field 3, utime 14, stime 15 (1-based in proc(5)).
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS_PER_S;
}

/** CPU seconds the whole machine spent busy (user, nice, system, irq, softirq, steal) since boot. */
export function machineBusyS(): number {
  const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  return ((f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0)) / CLOCK_TICKS_PER_S;
}

/**
 * Share of the machine's CPU that went to processes other than this one and the server while `fn`
 * ran: the neighbours' load, measured rather than inferred from a lagging load average, so that a
 * floor and a point taken under different neighbour load can be told apart.
 */
export async function withOthersShare<T>(serverPid: number, cores: number, fn: () => Promise<T>): Promise<{ value: T; othersShare: number }> {
  const t0 = performance.now();
  const [m0, s0, c0] = [machineBusyS(), procCpuS(serverPid), process.cpuUsage()];
  const value = await fn();
  const c = process.cpuUsage(c0);
  const others = machineBusyS() - m0 - (procCpuS(serverPid) - s0) - (c.user + c.system) / 1e6;
  return { value, othersShare: round(Math.max(0, others) / (cores * ((performance.now() - t0) / 1000)), 3) };
}

function vmHwmMb(pid: number): number | null {
  const kb = procStatusKb(pid, "VmHWM");
  return kb === undefined ? null : round(kb / 1024, 0);
}

interface ModelStatus {
  slug: string;
  queue_depth: number;
  running_lanes: number;
  windows: { window: string; mean_batch_size: number | null }[];
}

async function modelStatus(httpBase: string, slug: string): Promise<ModelStatus | undefined> {
  const res = await fetch(`${httpBase}/v1/status`);
  if (res.status !== 200) return undefined;
  const body = (await res.json()) as { models: ModelStatus[] };
  return body.models.find((m) => m.slug === slug);
}

export interface ServerPointStats {
  cpuS: number;
  peakRssMb: number | null;
  peakResetWorked: boolean;
  /** running_lanes from /v1/status, sampled every `sampleMs`: value → samples. */
  runningLanesSampled: Record<string, number>;
  queueDepthMax: number;
  queueDepthMean: number | null;
  /** /v1/status mean_batch_size over its trailing 1-minute window at the end of the point. */
  meanBatchSize1m: number | null;
}

/** Starts watching; `stop()` returns the point's figures. */
export function watchServer(pid: number, httpBase: string, slug: string, sampleMs = 250): { stop(): Promise<ServerPointStats> } {
  const peakResetWorked = resetPeakRss(pid);
  const cpu0 = procCpuS(pid);
  const lanes: Record<string, number> = {};
  const depths: number[] = [];
  let stopped = false;
  // Status polls stay well under the per-IP limit on unauthenticated routes (20/s).
  const loop = (async () => {
    while (!stopped) {
      const s = await modelStatus(httpBase, slug).catch(() => undefined);
      if (s) {
        lanes[String(s.running_lanes)] = (lanes[String(s.running_lanes)] ?? 0) + 1;
        depths.push(s.queue_depth);
      }
      await new Promise((r) => setTimeout(r, sampleMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      const end = await modelStatus(httpBase, slug).catch(() => undefined);
      return {
        cpuS: round(procCpuS(pid) - cpu0, 2),
        peakRssMb: vmHwmMb(pid),
        peakResetWorked,
        runningLanesSampled: lanes,
        queueDepthMax: depths.length ? Math.max(...depths) : 0,
        queueDepthMean: depths.length ? round(depths.reduce((a, b) => a + b, 0) / depths.length, 2) : null,
        meanBatchSize1m: end?.windows.find((w) => w.window === "1m")?.mean_batch_size ?? null,
      };
    },
  };
}
