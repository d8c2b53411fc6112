// `npm run bench:saturation`: how close the served path gets to the runner's own throughput under
// load. Against the real server (its own process, embedded defaults), K=8 T=48 PredictBatch is sent
// over gRPC and REST (multipart, output=raw) in two shapes, each stepped up until throughput stops
// growing: open loop (Poisson arrivals at a fixed seed, latency from the intended send time) and
// closed loop (N clients back to back). In a separate phase of the same run, gpu/direct.ts runs the
// same model in this process at every batch size the server may form (K … batchLanesMax lanes): the
// floor. Each point reports achieved frames/s and its ratio to the floor's best, latency p50/p99
// (hdr-histogram), errors, queue delay, the server's CPU, peak RSS and lanes in flight, and this
// process's own CPU (the generator competes with the server for the same 2 cores).
//
//   npm run bench:saturation [-- --quick] [--models a,b] [--transports grpc,rest] [--modes open,closed]
//                            [--arrivals poisson|constant] [--seed 1]
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";
import { loadCatalog } from "../src/config/load-catalog";
import type { CatalogEntry } from "../src/config/catalog";
import { ensureReferenceModels } from "../gpu/build-reference-models";
import { testFrame } from "../test/e2e/harness";
import { ROOT, argInt, argString, round, startServer, withSteal, type ServerProcess } from "./lib";
import { progress, type Progress } from "./progress";
import { measureFloor } from "./saturation-floor";
import { closedLoop, openLoop, type LoadResult } from "./saturation-load";
import { P99_BOUND_FACTOR, Stepper, planFor } from "./saturation-plan";
import { grpcSender, restSender, type Sender } from "./saturation-senders";
import { watchServer, withOthersShare } from "./saturation-server";
import { summarize, type Row } from "./saturation-summary";

const ALL_MODELS = ["dream-reference-tiny", "dream-reference-480p"];
const K = 8;
const T = 48;
const FRAMES_PER_REQUEST = K * (T + 1);
const CORES = os.cpus().length;

const quick = process.argv.includes("--quick");
const models = argString("models", ALL_MODELS.join(",")).split(",");
const transports = argString("transports", "grpc,rest").split(",");
const modes = argString("modes", "open,closed").split(",");
const arrivals = argString("arrivals", "poisson") as "poisson" | "constant";
const seed = argInt("seed", 1);
const command = `npm run bench:saturation --${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(" ")}` : ""}`;
const machine = { cpu: os.cpus()[0]?.model ?? "unknown", cores: CORES, os: `${os.type()} ${os.release()}` };
const load = () => os.loadavg().map((x) => round(x, 2));

function emit(rows: Row[], row: Row): void {
  rows.push(row);
  process.stdout.write(`${JSON.stringify(row)}\n`);
}

/** Waits (bounded) until the model's queue is empty and no lanes run, so points do not overlap. */
async function settle(server: ServerProcess, slug: string, boundMs = 60_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (Date.now() < deadline) {
    const body = (await (await fetch(`${server.httpBase}/v1/status`)).json()) as { models: { slug: string; queue_depth: number; running_lanes: number }[] };
    const m = body.models.find((x) => x.slug === slug);
    if (!m || (m.queue_depth === 0 && m.running_lanes === 0)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function runPoint(server: ServerProcess, sender: Sender, slug: string, run: () => Promise<LoadResult>) {
  await settle(server, slug);
  const loadStart = load();
  const watch = watchServer(server.child.pid!, server.httpBase, slug);
  const cpu0 = process.cpuUsage();
  const { value: { value: r, stealPct }, othersShare } = await withOthersShare(server.child.pid!, CORES, () => withSteal(run));
  const cpu = process.cpuUsage(cpu0);
  const srv = await watch.stop();
  const wallS = r.wallMs / 1000;
  const genCpuS = (cpu.user + cpu.system) / 1e6;
  const q = (h: LoadResult["latency"], p: number) => (h.totalCount ? h.getValueAtPercentile(p) : null);
  return {
    transport: sender.transport,
    requests_sent: r.requestsSent,
    responses: r.responses,
    errors: r.errors,
    error_samples: r.errorSamples,
    frames: r.frames,
    wall_s: round(wallS, 2),
    achieved_frames_per_s: round(r.frames / wallS),
    latency_p50_ms: q(r.latency, 50),
    latency_p99_ms: q(r.latency, 99),
    latency_max_ms: r.latency.totalCount ? r.latency.maxValue : null,
    latency_from: "intended send time (open loop) / actual send (closed loop)",
    queue_ms_p50: r.queueSamples ? q(r.queue, 50) : null,
    queue_ms_p99: r.queueSamples ? q(r.queue, 99) : null,
    send_lag_ms_max: round(r.sendLagMsMax),
    generator_cpu_s: round(genCpuS, 2),
    generator_cpu_share: round(genCpuS / (CORES * wallS), 3),
    server_cpu_s: srv.cpuS,
    server_cpu_share: round(srv.cpuS / (CORES * wallS), 3),
    server_peak_rss_mb: srv.peakResetWorked ? srv.peakRssMb : null,
    server_peak_rss_since_start_mb: srv.peakResetWorked ? null : srv.peakRssMb,
    running_lanes_sampled: srv.runningLanesSampled,
    queue_depth_max: srv.queueDepthMax,
    queue_depth_mean: srv.queueDepthMean,
    mean_batch_size_trailing_1m: srv.meanBatchSize1m,
    batch_size_distribution: null, // not exposed by the server (see saturation-server.ts)
    steal_pct: stealPct,
    others_cpu_share: othersShare,
    load_avg_start: loadStart,
    load_avg_end: load(),
  };
}

async function benchModel(server: ServerProcess, entry: CatalogEntry, rows: Row[], bar: Progress): Promise<void> {
  const plan = planFor(entry.slug, quick);
  const row0 = { bench: "saturation", date: new Date().toISOString(), machine, command, model: entry.slug, k: K, t: T };
  // Phase 1: the floor, with no served load running.
  const floorM = await withOthersShare(server.child.pid!, CORES, () => measureFloor(path.join(ROOT, "gpu", "models"), entry, K, T, plan.floorReps, plan.floorWarmEach, bar));
  const floor = floorM.value;
  const emitFloor = (phase: string, m: { value: typeof floor; othersShare: number }) => {
    for (const f of m.value) emit(rows, { ...row0, kind: "floor", phase, lanes: f.lanes, reps: f.reps, warmed: f.warmed, median_ms: f.medianMs, frames_per_s: f.framesPerS, others_cpu_share: m.othersShare, load_avg: load() });
  };
  emitFloor("before", floorM);
  const best = floor.reduce((a, b) => (b.framesPerS > a.framesPerS ? b : a));
  const kFloorMs = floor.find((f) => f.lanes === K)!.medianMs;
  const p99BoundMs = Math.max(2_000, P99_BOUND_FACTOR * kFloorMs);
  const capacityPerS = best.framesPerS / FRAMES_PER_REQUEST;
  // Phase 2: served load, per transport and mode, stepped until saturation.
  const [h, w] = entry.resolution;
  const png = await sharp(Buffer.from(testFrame(h, w)), { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
  for (const transport of plan.transports.filter((t) => transports.includes(t))) {
    const sender = transport === "grpc" ? grpcSender(server, entry, K, T) : restSender(server, entry, K, T, png);
    try {
      await sender.send(new AbortController().signal); // warm-up, unmeasured
      // Closed loop first: its best served rate is what the open-loop rates are fractions of (the
      // floor's capacity would overload a server that cannot reach it, and say nothing more).
      let closedBestPerS: number | undefined;
      for (const mode of ["closed", "open"].filter((m) => modes.includes(m))) {
        const levels = mode === "closed" ? plan.concurrency : plan.openLoad;
        const base = closedBestPerS !== undefined ? { perS: closedBestPerS, of: "closed-loop best served rate" } : { perS: capacityPerS, of: "floor capacity" };
        const stepper = new Stepper(p99BoundMs);
        for (const level of levels) {
          if (stepper.stopped) {
            bar.tick(1, `skip ${mode} (${stepper.stopped})`);
            continue;
          }
          const ratePerS = mode === "open" ? level * base.perS : undefined;
          const run = () =>
            ratePerS !== undefined
              ? openLoop(sender, { ratePerS, arrivals, seed, sendMs: plan.sendMs, drainMs: plan.drainMs, count: plan.openCount })
              : closedLoop(sender, { concurrency: level, sendMs: plan.sendMs, drainMs: plan.drainMs });
          const m = await runPoint(server, sender, entry.slug, run);
          const fps = m.achieved_frames_per_s;
          if (mode === "closed") closedBestPerS = Math.max(closedBestPerS ?? 0, m.responses / m.wall_s);
          const growth = stepper.step(fps, m.latency_p99_ms);
          const offered = ratePerS !== undefined ? { arrivals, seed, offered_rate_per_s: round(ratePerS, 3), offered_fraction: level, offered_fraction_of: base.of, offered_frames_per_s: round(ratePerS * FRAMES_PER_REQUEST) } : { concurrency: level };
          emit(rows, { ...row0, kind: "point", mode, ...offered, ...m, floor_best_frames_per_s: best.framesPerS, floor_best_lanes: best.lanes, ratio_to_floor: round(fps / best.framesPerS, 3), growth_over_best_before: growth, stop_reason: stepper.stopped ?? null, p99_bound_ms: p99BoundMs });
          bar.tick(1, `${entry.slug.replace("dream-reference-", "")} ${transport} ${mode} ${mode === "closed" ? `c=${level}` : `${level}x`}: ${fps} frames/s`);
        }
      }
    } finally {
      sender.close();
    }
  }
  if (plan.floorAfter) {
    await settle(server, entry.slug);
    emitFloor("after", await withOthersShare(server.child.pid!, CORES, () => measureFloor(path.join(ROOT, "gpu", "models"), entry, K, T, plan.floorReps, false, bar)));
  }
}

async function main(): Promise<void> {
  for (const m of models) if (!ALL_MODELS.includes(m)) throw new Error(`--models: ${m} is not one of ${ALL_MODELS.join(", ")}`);
  const catalog = loadCatalog(path.join(ROOT, "gpu", "catalog.json"));
  const entries = models.map((m) => catalog.models.find((e) => e.slug === m)!);
  await ensureReferenceModels(path.join(ROOT, "gpu", "models"), { models: entries });
  const loadAtStart = load();
  const started = Date.now();
  const total = entries.reduce((n, e) => {
    const p = planFor(e.slug, quick);
    const points = p.transports.filter((t) => transports.includes(t)).length * ((modes.includes("closed") ? p.concurrency.length : 0) + (modes.includes("open") ? p.openLoad.length : 0));
    return n + points + p.floorReps * Math.floor(e.batchLanesMax / K) * (p.floorAfter ? 2 : 1);
  }, 0);
  const bar = progress("saturation", total);
  const server = await startServer({ DREAM_MODELS: models.join(",") });
  const rows: Row[] = [];
  try {
    for (const entry of entries) await benchModel(server, entry, rows, bar);
  } finally {
    bar.stop();
    await server.stop();
  }
  const run = { command, machine, load_avg_start: loadAtStart, load_avg_end: load(), total_s: round((Date.now() - started) / 1000), quick };
  process.stdout.write(summarize(rows, run));
  if (process.env.BENCH_OUT) fs.writeFileSync(process.env.BENCH_OUT, JSON.stringify({ run, rows }, null, 2));
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
