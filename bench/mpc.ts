// `npm run bench:mpc`: a closed visual-MPC loop, K = 8 candidates of T = 48 steps per decision, at a
// target rate, decided five ways (bench/mpc-modes.ts): client-side (PredictBatch raw + scoring in the
// client), server-side rank, rank with pruning, a control session, and the direct floor (the same
// rollouts + scoring in this process). Decisions are scheduled at fixed intended times and latency is
// measured from the intended send time, so a slow decision delays the next one's clock too (no
// coordinated omission); latencies go into an HDR histogram per mode. Modes alternate decision by
// decision, so drift on a shared machine hits all of them. Prints one JSON row per (model, mode), every
// decision's latency included (latencies_ms, sorted), and a summary with the targets of issue 12.
//   --models dream-reference-tiny,dream-reference-480p  --decisions N (tiny) --decisions-480p N
//   --rate-hz R (tiny; default 10). The 480p rate is the sustainable one: 1 / (1.25 x the floor's p50).
//   --cost track (default: a goal per predicted frame, the hidden path, MEAN) | final (the final frame
//   against the goal, FINAL: only the last chunk is scored, and pruning has only distance-so-far to go by)
import * as grpc from "@grpc/grpc-js";
import * as hdr from "hdr-histogram-js";
import os from "node:os";
import path from "node:path";
import { DreamClient, packActions } from "../clients/typescript/src";
import { loadCatalog } from "../src/config/load-catalog";
import { FrameEncoding } from "../src/gen/dream/v1/dream";
import { PlanningClient, SessionsClient } from "../src/gen/dream/v1/planning";
import { DirectModel } from "../gpu/direct";
import { ensureReferenceModels } from "../gpu/build-reference-models";
import { ScorerSessions } from "../gpu/scorers/scorer-sessions";
import { bearer, testFrame } from "../test/e2e/harness";
import { ROOT, argInt, argString, round, startServer } from "./lib";
import { clientSide, direct, openSession, serverRank, sessionStep, type Decision, type World } from "./mpc-modes";
import { candidatesFor, heldSequence } from "./mpc-world";

const K = 8;
const T = 48;
type Mode = "client" | "rank" | "prune" | "session" | "direct";
const MODES: Mode[] = ["direct", "client", "rank", "prune", "session"];

interface Tally {
  histogram: hdr.Histogram;
  bytes: number[];
  missed: number;
  decisions: number;
  /** Wall time of this mode's loops (each block from its first intended start to its last completion). */
  elapsedUs: number;
  best: number[];
  /** Every decision's latency, so a row can carry the whole distribution (bench/plot.ts draws its CDF). */
  latenciesMs: number[];
}

const tally = (): Tally => ({ histogram: hdr.build({ useWebAssembly: false, lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 }), bytes: [], missed: 0, decisions: 0, elapsedUs: 0, best: [], latenciesMs: [] });

const sleepUntil = async (atMs: number): Promise<void> => {
  const wait = atMs - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
};

async function main(): Promise<void> {
  const models = argString("models", "dream-reference-tiny,dream-reference-480p").split(",");
  const catalog = loadCatalog(path.join(ROOT, "gpu", "catalog.json"));
  const modelDir = path.join(ROOT, "gpu", "models");
  await ensureReferenceModels(modelDir, { models: catalog.models.filter((e) => models.includes(e.slug)) });
  const server = await startServer({ DREAM_MODELS: models.join(",") });
  const md = bearer(server.apiKey);
  const client = new DreamClient({ address: server.grpcAddress, apiKey: server.apiKey, warmReceive: true, retries: 0 });
  // The SDK's own stubs, with its channel options (a 64 MiB receive window among them): what a user of
  // the TS client gets. Plain stubs with grpc-js's defaults waited a window round trip for every 74 KB
  // decision.
  const { planning, sessions } = client;
  try {
    for (const slug of models) {
      const entry = catalog.models.find((e) => e.slug === slug)!;
      const isTiny = slug.endsWith("tiny");
      await benchModel({ entry, modelDir, client, planning, sessions, md, decisions: isTiny ? argInt("decisions", 30) : argInt("decisions-480p", 4), rateHz: isTiny ? argInt("rate-hz", 10) : undefined, track: argString("cost", "track") === "track" });
    }
  } finally {
    client.close();
    await server.stop();
  }
}

interface BenchModel {
  entry: ReturnType<typeof loadCatalog>["models"][number];
  modelDir: string;
  client: DreamClient;
  planning: PlanningClient;
  sessions: SessionsClient;
  md: grpc.Metadata;
  decisions: number;
  rateHz: number | undefined;
  track: boolean;
}

async function benchModel(b: BenchModel): Promise<void> {
  const { entry } = b;
  const [h, w] = entry.resolution;
  const start = testFrame(h, w);
  const hidden = heldSequence(T, entry.actionDim, 7, 0.8);
  const startFrame = { encoding: FrameEncoding.RAW_RGB8, data: start, height: h, width: w };
  const path = (await b.client.predictBatch({ model: entry.slug, startFrame, candidates: [packActions(hidden, T, entry.actionDim)], params: { numSteps: entry.defaultNumSteps, seed: 1 } })).response.rollouts[0]!.frames;
  const goal = path[T]!;
  const scorerSpec = entry.scorers?.["pixel-l2"];
  if (scorerSpec === undefined || !("builtin" in scorerSpec)) throw new Error(`${entry.slug} has no built-in pixel-l2 scorer`);
  const world: World = { entry, steps: T, startFrame, goal, trajectory: b.track ? path.slice(1) : undefined, downsample: "downsample" in scorerSpec ? (scorerSpec.downsample ?? 1) : 1 };
  const model = await DirectModel.open(b.modelDir, entry, { warmLanes: K });
  const scorers = await ScorerSessions.open({ modelDir: b.modelDir, entry: { ...entry, scorers: { "pixel-l2": scorerSpec } } }, { height: h, width: w, actionDim: entry.actionDim, chunkSize: entry.chunkSize }, []);
  let into: Uint8Array | undefined;
  // Warm every path once, unmeasured; the floor's p50 of two more runs sets the 480p rate.
  const warm = candidatesFor(hidden, entry.actionDim, K, 0);
  const floorMs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    into = (await direct(model, scorers, world, warm, into)).frames;
    if (i > 0) floorMs.push(performance.now() - t0);
  }
  const periodMs = b.rateHz !== undefined ? 1000 / b.rateHz : 1.25 * Math.max(...floorMs);
  let sessionId: string | undefined;
  let sessionSkipped: string | undefined;
  try {
    sessionId = await openSession(b.sessions, b.md, world, K);
  } catch (err) {
    sessionSkipped = `control sessions not served: ${(err as Error).message}`;
  }
  const decide = async (mode: Mode, round: number): Promise<Decision> => {
    const candidates = candidatesFor(hidden, entry.actionDim, K, round);
    if (mode === "direct") return (await direct(model, scorers, world, candidates, into)).decision;
    if (mode === "client") return clientSide(b.client, world, candidates);
    if (mode === "rank" || mode === "prune") return serverRank(b.planning, b.md, world, candidates, mode === "prune");
    return sessionStep(b.sessions, b.md, sessionId!, world);
  };
  for (const mode of ["client", "rank", "prune", ...(sessionId ? ["session"] : [])] as Mode[]) await decide(mode, 0);
  const tallies = new Map<Mode, Tally>(MODES.map((m) => [m, tally()]));
  await loop(b.decisions, periodMs, MODES.filter((m) => m !== "session" || sessionId !== undefined), decide, tallies);
  report(entry.slug, periodMs, tallies, sessionSkipped);
  await model.close();
}

/**
 * Each mode runs its own closed loop at the target period, in blocks: block after block, every mode
 * takes `perBlock` decisions scheduled at blockStart + i * period, so modes alternate (drift on a shared
 * machine hits all of them) without one mode's slow decision delaying another's clock. Latency is
 * completion - intended start: a decision that starts late carries its lateness (no coordinated
 * omission), and one slower than the period makes the next ones late too, as in a real loop.
 */
async function loop(decisions: number, periodMs: number, modes: Mode[], decide: (m: Mode, round: number) => Promise<Decision>, tallies: Map<Mode, Tally>): Promise<void> {
  const blocks = Math.min(decisions, 5);
  let round = 0;
  for (let block = 0; block < blocks; block++) {
    const perBlock = Math.floor(decisions / blocks) + (block < decisions % blocks ? 1 : 0);
    for (const mode of modes) {
      const t0 = performance.now();
      for (let i = 0; i < perBlock; i++) {
        const intendedMs = t0 + i * periodMs;
        await sleepUntil(intendedMs);
        record(tallies.get(mode)!, await decide(mode, round + i + 1), intendedMs, periodMs);
      }
      // The loop's own pace: a decision that ends before the next intended start waits for it.
      tallies.get(mode)!.elapsedUs += (Math.max(performance.now(), t0 + perBlock * periodMs) - t0) * 1000;
    }
    round += perBlock;
  }
}

function record(t: Tally, d: Decision, intendedMs: number, periodMs: number): void {
  const doneMs = performance.now();
  const latencyUs = Math.max(1, Math.round((doneMs - intendedMs) * 1000));
  t.histogram.recordValue(latencyUs);
  t.latenciesMs.push(latencyUs / 1000);
  if (latencyUs > periodMs * 1000) t.missed++;
  t.bytes.push(d.bytes);
  t.best.push(d.best);
  t.decisions++;
}

function report(model: string, periodMs: number, tallies: Map<Mode, Tally>, sessionSkipped: string | undefined): void {
  const ms = (t: Tally, p: number) => round(t.histogram.getValueAtPercentile(p) / 1000, 1);
  const floor = tallies.get("direct")!;
  const rows: Record<string, unknown>[] = [];
  for (const [mode, t] of tallies) {
    if (t.decisions === 0) continue;
    const bytes = [...t.bytes].sort((a, b) => a - b)[Math.floor(t.bytes.length / 2)]!;
    const sameBest = mode === "prune" ? t.best.filter((b, i) => b === tallies.get("rank")!.best[i]).length / t.decisions : undefined;
    const row = {
      model,
      mode,
      k: K,
      t: T,
      decisions: t.decisions,
      target_period_ms: round(periodMs, 1),
      p50_ms: ms(t, 50),
      p90_ms: ms(t, 90),
      p99_ms: ms(t, 99),
      p999_ms: ms(t, 99.9),
      max_ms: round(t.histogram.maxValue / 1000, 1),
      achieved_decisions_per_s: round((t.decisions * 1e6) / t.elapsedUs, 2),
      missed_deadlines: t.missed,
      bytes_per_decision: bytes,
      p50_vs_floor: round(t.histogram.getValueAtPercentile(50) / floor.histogram.getValueAtPercentile(50), 3),
      ...(sameBest === undefined ? {} : { same_best_as_rank: round(sameBest, 3) }),
      load_avg_1m: round(os.loadavg()[0]!, 2),
      // The raw samples, sorted (decisions are few, bounded by --decisions): a CDF needs no binning.
      latencies_ms: [...t.latenciesMs].sort((a, b) => a - b).map((x) => round(x, 1)),
    };
    rows.push(row);
    process.stdout.write(`${JSON.stringify(row)}\n`);
  }
  summarize(model, rows, sessionSkipped);
}

function summarize(model: string, rows: Record<string, unknown>[], sessionSkipped: string | undefined): void {
  const get = (mode: string) => rows.find((r) => r.mode === mode);
  const [client, rank, prune] = [get("client"), get("rank"), get("prune")];
  const bytesRatio = client && rank ? (rank.bytes_per_decision as number) / (client.bytes_per_decision as number) : NaN;
  const line = [
    `summary: ${model} K=${K} T=${T}:`,
    ...rows.map((r) => `${r.mode} p50 ${r.p50_ms} ms (${r.p50_vs_floor}x floor)`),
    `bytes/decision server/client ${bytesRatio.toExponential(2)} (target <= 1e-2)`,
    rank ? `rank p50 ${rank.p50_vs_floor}x floor (target <= 1.05)` : "",
    prune && rank ? `prune/rank p50 ${round((prune.p50_ms as number) / (rank.p50_ms as number), 3)} (target <= 0.6), same best ${prune.same_best_as_rank}` : "",
    sessionSkipped ?? "",
  ].filter(Boolean);
  process.stdout.write(`${line.join("; ")}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
