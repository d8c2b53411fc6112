// `npm run bench:overhead-ab`: one served configuration against another, side by side on one machine:
// two servers (A with --a's environment, B with --b's, e.g. the engine's defaults against
// DREAM_RUN_CHUNKS_MAX=1,DREAM_SETTLE_BEHIND=off) and the direct in-process floor, reps interleaved
// A, B, direct so drift on a shared machine hits all three. Tiny model by default, K=1 and K=8, T=48,
// raw output over gRPC. Per K: medians and ranges, served/direct for each side, the median of the
// per-rep B/A ratios, each side's Server-Timing phases (medians), and the load average.
//
//   npm run bench:overhead-ab -- [--a "K=V,…"] [--b "K=V,…"] [--reps 15] [--ks 1,8] [--model dream-reference-tiny]
import { loadavg } from "node:os";
import path from "node:path";
import { DreamClient, packActions } from "../clients/typescript/src";
import { loadCatalog } from "../src/config/load-catalog";
import { FrameEncoding } from "../src/gen/dream/v1/dream";
import { parseServerTiming } from "../src/service/server-timing";
import { DirectModel } from "../gpu/direct";
import { ensureReferenceModels } from "../gpu/build-reference-models";
import { testActions, testFrame } from "../test/e2e/harness";
import { ROOT, argInt, argString, percentile, round, startServer } from "./lib";
import { progress } from "./progress";

const T = 48;

function envOf(spec: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of spec.split(",").map((s) => s.trim()).filter(Boolean)) {
    const [k, ...v] = pair.split("=");
    if (!k || v.length === 0) throw new Error(`--a/--b: expected K=V pairs, got ${JSON.stringify(pair)}`);
    env[k] = v.join("=");
  }
  return env;
}

const med = (xs: number[]) => round(percentile(xs, 0.5), 2);
const range = (xs: number[]) => [round(Math.min(...xs), 1), round(Math.max(...xs), 1)];

function phaseMedians(samples: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of new Set(samples.flatMap((s) => Object.keys(s)))) out[name] = med(samples.map((s) => s[name]).filter((v): v is number => v !== undefined));
  return out;
}

async function main(): Promise<void> {
  const sides = { a: envOf(argString("a", "")), b: envOf(argString("b", "DREAM_RUN_CHUNKS_MAX=1,DREAM_SETTLE_BEHIND=off")) };
  const reps = argInt("reps", 15);
  const ks = argString("ks", "1,8").split(",").map(Number);
  const slug = argString("model", "dream-reference-tiny");
  const catalog = loadCatalog(path.join(ROOT, "gpu", "catalog.json"));
  const entry = catalog.models.find((e) => e.slug === slug);
  if (!entry) throw new Error(`--model: no ${slug} in the catalog`);
  const modelDir = path.join(ROOT, "gpu", "models");
  await ensureReferenceModels(modelDir, { models: [entry] });
  const servers = [await startServer({ DREAM_MODELS: slug, ...sides.a }), await startServer({ DREAM_MODELS: slug, ...sides.b })];
  const clients = servers.map((s) => new DreamClient({ address: s.grpcAddress, apiKey: s.apiKey, warmReceive: true }));
  const direct = await DirectModel.open(modelDir, entry, { warmLanes: 8 });
  const [h, w] = entry.resolution;
  const frame = testFrame(h, w);
  const load0 = loadavg()[0]!;
  const bar = progress("bench:overhead-ab", ks.length * reps);
  try {
    for (const k of ks) {
      const perLane = Array.from({ length: k }, (_, i) => testActions(T, entry.actionDim, i));
      const stacked = new Float32Array(k * T * entry.actionDim);
      perLane.forEach((a, i) => stacked.set(a, i * T * entry.actionDim));
      const request = { model: slug, startFrame: { encoding: FrameEncoding.RAW_RGB8, data: frame, height: h, width: w }, candidates: perLane.map((a) => packActions(a, T, entry.actionDim)), params: { numSteps: 0, seed: 1 } };
      for (const c of clients) await c.predictBatch(request); // first-call allocations, unmeasured
      const into = (await direct.run({ k, t: T, numSteps: entry.defaultNumSteps, seed: 1n, frame, actions: stacked })).frames;
      const servedMs: number[][] = [[], []];
      const phases: Record<string, number>[][] = [[], []];
      const directMs: number[] = [];
      for (let r = 0; r < reps; r++) {
        for (let i = 0; i < 2; i++) {
          const t0 = performance.now();
          const res = await clients[i]!.predictBatch(request);
          servedMs[i]!.push(performance.now() - t0);
          phases[i]!.push(parseServerTiming(res.headers["server-timing"] ?? ""));
        }
        directMs.push((await direct.run({ k, t: T, numSteps: entry.defaultNumSteps, seed: 1n, frame, actions: stacked, into })).wallMs);
        bar.tick(1, `K=${k}`);
      }
      const d = percentile(directMs, 0.5);
      const row = {
        bench: "overhead-ab",
        model: slug,
        k,
        t: T,
        reps,
        a_env: sides.a,
        b_env: sides.b,
        direct_ms: med(directMs),
        direct_range_ms: range(directMs),
        a_ms: med(servedMs[0]!),
        a_range_ms: range(servedMs[0]!),
        b_ms: med(servedMs[1]!),
        b_range_ms: range(servedMs[1]!),
        a_over_direct: round(percentile(servedMs[0]!, 0.5) / d, 3),
        b_over_direct: round(percentile(servedMs[1]!, 0.5) / d, 3),
        a_minus_direct_ms: round(percentile(servedMs[0]!, 0.5) - d, 2),
        b_minus_direct_ms: round(percentile(servedMs[1]!, 0.5) - d, 2),
        b_over_a_per_rep: round(percentile(servedMs[1]!.map((b, i) => b / servedMs[0]![i]!), 0.5), 3),
        a_phases_ms: phaseMedians(phases[0]!),
        b_phases_ms: phaseMedians(phases[1]!),
        load_avg_start: round(load0, 2),
        load_avg_end: round(loadavg()[0]!, 2),
        date: new Date().toISOString(),
      };
      process.stdout.write(`${JSON.stringify(row)}\n`);
      process.stderr.write(`K=${k}: direct ${row.direct_ms} ms; A ${row.a_ms} ms (${row.a_over_direct}x, +${row.a_minus_direct_ms} ms); B ${row.b_ms} ms (${row.b_over_direct}x, +${row.b_minus_direct_ms} ms); B/A per rep ${row.b_over_a_per_rep}\n`);
    }
  } finally {
    bar.stop();
    for (const c of clients) c.close();
    await direct.close();
    for (const s of servers) await s.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
