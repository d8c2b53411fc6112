// `npm run bench:replicas`: frames/s at saturation with one vs two CPU replicas of the tiny model, side
// by side: three servers run at once — one runner with 2 ORT threads (DREAM_EXECUTION_PROVIDER=cpu),
// two runners with 1 thread each (cpu*2: the same threads in all), and one runner with 1 thread (what a
// second replica adds to it) — and a closed loop of `--concurrency`
// ranked K=8, T=48 decisions (Planning.Plan: rollouts and scoring next to the model, kilobytes back, so
// the load generator's own decoding does not eat the cores) drives one server at a time, the order
// rotating rep by rep, for `--reps` windows of `--seconds` each. Medians and spreads of frames/s; the idle server's
// threads sleep (ORT spinning off). Then the placement overhead per request: building the replica views
// from scheduler stats and placeRequest(), timed in this process with busy schedulers.
//   --seconds S (default 6)  --reps R (default 3)  --concurrency C (default 8)
import * as grpc from "@grpc/grpc-js";
import os from "node:os";
import path from "node:path";
import { loadCatalog } from "../src/config/load-catalog";
import { FakeClock } from "../src/core/clock";
import { FrameEncoding } from "../src/gen/dream/v1/dream";
import { PlanningClient } from "../src/gen/dream/v1/planning";
import { ModelScheduler } from "../src/scheduler";
import { placeRequest, replicaView } from "../src/scheduler/placement";
import { ensureReferenceModels } from "../gpu/build-reference-models";
import { bearer, testFrame } from "../test/e2e/harness";
import { FakeExecutor, makeRequest } from "../test/scheduler/fakes";
import { ROOT, argInt, percentile, round, startServer, withSteal, type ServerProcess } from "./lib";
import { serverRank, type World } from "./mpc-modes";
import { candidatesFor, heldSequence } from "./mpc-world";

const K = 8;
const T = 48;
const SLUG = "dream-reference-tiny";

interface Side {
  name: string;
  server: ServerProcess;
  planning: PlanningClient;
  md: grpc.Metadata;
  framesPerS: number[];
}

async function main(): Promise<void> {
  const seconds = argInt("seconds", 6);
  const reps = argInt("reps", 3);
  const concurrency = argInt("concurrency", 8);
  const catalog = loadCatalog(path.join(ROOT, "gpu", "catalog.json"));
  const entry = catalog.models.find((e) => e.slug === SLUG)!;
  await ensureReferenceModels(path.join(ROOT, "gpu", "models"), { models: [entry] });
  const [h, w] = entry.resolution;
  const startFrame = { encoding: FrameEncoding.RAW_RGB8, data: testFrame(h, w), height: h, width: w };
  const world: World = { entry, steps: T, startFrame, goal: startFrame.data, trajectory: undefined, downsample: 1 };
  const hidden = heldSequence(T, entry.actionDim, 7, 0.8);
  const common = { DREAM_MODELS: SLUG, DREAM_ORT_SPINNING: "off" };
  const sides: Side[] = [];
  const layouts = [
    ["1 replica x 2 threads", { DREAM_EXECUTION_PROVIDER: "cpu", DREAM_INTRA_OP_THREADS: "2" }],
    ["2 replicas x 1 thread", { DREAM_EXECUTION_PROVIDER: "cpu*2", DREAM_INTRA_OP_THREADS: "1" }],
    ["1 replica x 1 thread", { DREAM_EXECUTION_PROVIDER: "cpu", DREAM_INTRA_OP_THREADS: "1" }],
  ] as const;
  for (const [name, env] of layouts) {
    const server = await startServer({ ...common, ...env });
    sides.push({ name, server, planning: new PlanningClient(server.grpcAddress, grpc.credentials.createInsecure()), md: bearer(server.apiKey), framesPerS: [] });
  }
  try {
    let round_ = 0;
    const decide = (s: Side) => serverRank(s.planning, s.md, world, candidatesFor(hidden, entry.actionDim, K, ++round_), false);
    for (const s of sides) for (let i = 0; i < concurrency; i++) await decide(s); // warm both
    const { stealPct } = await withSteal(async () => {
      for (let rep = 0; rep < reps; rep++) {
        // Rotate the order rep by rep, so no layout always runs first (or right after the same one).
        for (let i = 0; i < sides.length; i++) {
          const s = sides[(i + rep) % sides.length]!;
          s.framesPerS.push(await saturate(() => decide(s), concurrency, seconds));
        }
      }
    });
    const placement = placementOverhead(entry.batchLanesMax);
    report(sides, { seconds, reps, concurrency, stealPct }, placement);
  } finally {
    for (const s of sides) {
      s.planning.close();
      await s.server.stop();
    }
  }
}

/** Closed loop: `concurrency` decisions in flight for `seconds`; frames generated per second. */
async function saturate(decide: () => Promise<unknown>, concurrency: number, seconds: number): Promise<number> {
  const endMs = performance.now() + seconds * 1000;
  let done = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < endMs) {
        await decide();
        done++;
      }
    }),
  );
  return (done * K * (T + 1)) / ((performance.now() - t0) / 1000);
}

/** µs to build the views of `replicas` busy schedulers and place one request, median of many. */
function placementOverhead(batchLanesMax: number): { replicas: number; us: number }[] {
  const geometry = { height: 2, width: 2, actionDim: 3, chunkSize: 4 };
  return [2, 8].map((n) => {
    const clock = new FakeClock();
    const schedulers = Array.from({ length: n }, (_, i) => {
      const s = new ModelScheduler({ executor: new FakeExecutor(geometry, clock), batchLanesMax, queueDelayUs: 1e6, clock, timer: { after: () => () => undefined } });
      // A realistic backlog: 24 queued requests of K=8 per replica (they never run: the timer never fires).
      for (let r = 0; r < 24; r++) s.submit(makeRequest(geometry, `r${i}-${r}`, { k: 8, t: 48 }), { onChunk: () => undefined, onEnd: () => undefined });
      return s;
    });
    const samples: number[] = [];
    for (let rep = 0; rep < 2000; rep++) {
      const t0 = performance.now();
      const views = schedulers.map((s) => replicaView(s.stats(), true, batchLanesMax));
      placeRequest(views, K, "interactive");
      samples.push((performance.now() - t0) * 1000);
    }
    return { replicas: n, us: round(percentile(samples, 0.5), 2) };
  });
}

function report(sides: Side[], run: { seconds: number; reps: number; concurrency: number; stealPct: number }, placement: { replicas: number; us: number }[]): void {
  const median = (xs: number[]) => percentile(xs, 0.5);
  for (const s of sides) {
    const row = {
      bench: "replicas",
      model: SLUG,
      side: s.name,
      k: K,
      t: T,
      concurrency: run.concurrency,
      window_s: run.seconds,
      reps: run.reps,
      frames_per_s_median: round(median(s.framesPerS), 1),
      frames_per_s_min: round(Math.min(...s.framesPerS), 1),
      frames_per_s_max: round(Math.max(...s.framesPerS), 1),
      frames_per_s: s.framesPerS.map((x) => round(x, 1)),
      cores: os.availableParallelism(),
      load_avg_1m: round(os.loadavg()[0]!, 2),
      steal_pct: run.stealPct,
    };
    process.stdout.write(`${JSON.stringify(row)}\n`);
  }
  process.stdout.write(`${JSON.stringify({ bench: "replicas", placement_us_per_request: placement })}\n`);
  const [one, two, single] = sides.map((s) => median(s.framesPerS));
  process.stdout.write(
    `summary: ${SLUG} K=${K} T=${T} ranked, ${run.concurrency} in flight, ${run.reps} x ${run.seconds} s per side interleaved: ` +
      `1 replica (2 ORT threads) ${round(one!, 0)} frames/s, 2 replicas (1 thread each) ${round(two!, 0)} frames/s, ratio ${round(two! / one!, 3)} on ${os.availableParallelism()} cores; 1 replica with 1 thread ${round(single!, 0)} frames/s (2 replicas / that ${round(two! / single!, 3)}); ` +
      `placement ${placement.map((p) => `${p.us} µs with ${p.replicas} replicas`).join(", ")} per request; load ${round(os.loadavg()[0]!, 2)}, steal ${run.stealPct}%\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
