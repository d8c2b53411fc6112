// `npm run bench:spinning`: ORT's intra-op spinning on vs off (gpu/sessions.ts createSession), the
// direct in-process rollout (gpu/direct.ts) side by side, alone and with a co-tenant: a thread that
// busy-loops for the whole measurement, as other work sharing the host's cores does. Reps alternate
// on/off. Per (K, co-tenant): median wall ms and the process's CPU ms per rollout for each setting.
//
//   npm run bench:spinning -- [--reps 15] [--ks 1,8] [--model dream-reference-tiny]
import { loadavg } from "node:os";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { loadCatalog } from "../src/config/load-catalog";
import { DirectModel } from "../gpu/direct";
import { ensureReferenceModels } from "../gpu/build-reference-models";
import { testActions, testFrame } from "../test/e2e/harness";
import { ROOT, argInt, argString, percentile, round } from "./lib";
import { progress } from "./progress";

/** A thread that spins until terminated: a stand-in for a co-located busy process. */
function coTenant(): Worker {
  return new Worker("for (;;) {}", { eval: true });
}

async function main(): Promise<void> {
  const reps = argInt("reps", 15);
  const ks = argString("ks", "1,8").split(",").map(Number);
  const slug = argString("model", "dream-reference-tiny");
  const entry = loadCatalog(path.join(ROOT, "gpu", "catalog.json")).models.find((e) => e.slug === slug);
  if (!entry) throw new Error(`--model: no ${slug} in the catalog`);
  const modelDir = path.join(ROOT, "gpu", "models");
  await ensureReferenceModels(modelDir, { models: [entry] });
  const [h, w] = entry.resolution;
  const frame = testFrame(h, w);
  const models = [await DirectModel.open(modelDir, entry, { warmLanes: 8, spinning: true }), await DirectModel.open(modelDir, entry, { warmLanes: 8, spinning: false })];
  const bar = progress("bench:spinning", ks.length * 2 * reps);
  try {
    for (const k of ks) {
      const actions = new Float32Array(k * 48 * entry.actionDim);
      for (let i = 0; i < k; i++) actions.set(testActions(48, entry.actionDim, i), i * 48 * entry.actionDim);
      for (const cotenant of [false, true]) {
        const busy = cotenant ? coTenant() : undefined;
        const wall: number[][] = [[], []];
        const cpu: number[][] = [[], []];
        const load0 = loadavg()[0]!;
        for (let r = 0; r < reps; r++) {
          for (let m = 0; m < 2; m++) {
            const c0 = process.cpuUsage();
            wall[m]!.push((await models[m]!.run({ k, t: 48, numSteps: entry.defaultNumSteps, seed: 1n, frame, actions })).wallMs);
            const c = process.cpuUsage(c0);
            cpu[m]!.push((c.user + c.system) / 1000);
          }
          bar.tick(1, `K=${k}${cotenant ? " +co-tenant" : ""}`);
        }
        await busy?.terminate();
        const row = {
          bench: "ort-spinning",
          model: slug,
          k,
          t: 48,
          reps,
          cotenant,
          spin_on_ms: round(percentile(wall[0]!, 0.5), 2),
          spin_off_ms: round(percentile(wall[1]!, 0.5), 2),
          // CPU counts the co-tenant thread too when there is one (same process): compare on/off, not across rows.
          spin_on_cpu_ms: round(percentile(cpu[0]!, 0.5), 1),
          spin_off_cpu_ms: round(percentile(cpu[1]!, 0.5), 1),
          off_over_on: round(percentile(wall[1]!, 0.5) / percentile(wall[0]!, 0.5), 3),
          load_avg_start: round(load0, 2),
          load_avg_end: round(loadavg()[0]!, 2),
          date: new Date().toISOString(),
        };
        process.stdout.write(`${JSON.stringify(row)}\n`);
      }
    }
  } finally {
    bar.stop();
    for (const m of models) await m.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
