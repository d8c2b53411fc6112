// Builds a served model's engine: one runner and scheduler per device in Config.devices — a plain
// SchedulerEngine for one device, a ReplicatedEngine over several (src/app/replicas.ts).
import type { CatalogEntry } from "../config/catalog";
import type { Config } from "../config/config";
import type { Clock } from "../core/clock";
import { createRunner } from "../../gpu/runner";
import type { Logger } from "../observability/logger";
import type { StatusRecorder } from "../observability/status";
import { ModelScheduler } from "../scheduler";
import type { ModelEngine } from "../service/ports";
import { SchedulerEngine, type RunnerHandle } from "./engine";
import { ReplicatedEngine } from "./replicas";

export interface ModelStartDeps {
  config: Readonly<Config>;
  clock: Clock;
  status: StatusRecorder;
  logger: Logger;
  /** Every runner built (replacements too), so shutdown closes them all. */
  track(runner: RunnerHandle): void;
}

export async function startModel(entry: CatalogEntry, deps: ModelStartDeps): Promise<ModelEngine> {
  const devices = deps.config.devices;
  const build = (device: string) => startReplica(entry, device, deps);
  if (devices.length === 1) return build(devices[0]!);
  const engines = await Promise.all(devices.map(build));
  return new ReplicatedEngine(
    entry,
    engines.map((engine, i) => ({ device: devices[i]!, engine })),
    {
      replace: (_index, device) => build(device),
      onReplaced: (index, device) => deps.logger.warn({ model: entry.slug, replica: index, device }, "replica replaced after its runner failed"),
      onReplaceFailed: (index, device, err) => deps.logger.error({ model: entry.slug, replica: index, device, err: String(err) }, "replacing a failed replica failed"),
    },
  );
}

async function startReplica(entry: CatalogEntry, device: string, deps: ModelStartDeps): Promise<SchedulerEngine> {
  const { config } = deps;
  const runner = createRunner({ modelDir: config.modelDir, entry, executionProvider: device, intraOpThreads: config.intraOpThreads, spinning: config.ortSpinning ?? entry.ortSpinning ?? false, chunkTimeoutMs: config.chunkTimeoutMs });
  deps.track(runner);
  await runner.load();
  // On a CPU a batch lane in an interactive step costs as much as an interactive one (plan.ts rule 3a).
  const batchLanesBesideInteractive = config.batchLanesBesideInteractive ?? (device === "cpu" ? 0 : entry.batchLanesMax);
  // On a CPU a chunk's time grows with its lanes: near a control loop, batch chunks are kept short (rule 3c).
  const batchLanesNearInteractive = Math.min(entry.batchLanesMax, config.batchLanesNearInteractive ?? (device === "cpu" ? Math.max(1, Math.floor(entry.batchLanesMax / 2)) : entry.batchLanesMax));
  const scheduler = new ModelScheduler({
    executor: runner,
    batchLanesMax: entry.batchLanesMax,
    queueDelayUs: entry.queueDelayUs,
    runChunksMax: config.runChunksMax,
    batchLanesBesideInteractive,
    batchLanesNearInteractive,
    model: entry.slug,
    clock: deps.clock,
    onStep: (lanes) => deps.status.recordBatch(entry.slug, lanes),
  });
  return new SchedulerEngine(entry, scheduler, runner);
}
