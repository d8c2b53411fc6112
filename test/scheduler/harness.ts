// A ModelScheduler wired to a FakeClock, a ManualTimer and a FakeExecutor, with recording sinks.
import { FakeClock } from "../../src/core/clock";
import type { ModelGeometry } from "../../src/scheduler/executor";
import { ModelScheduler, type ModelSchedulerOptions } from "../../src/scheduler/loop";
import { ManualTimer } from "../../src/scheduler/timer";
import { FakeExecutor, makeRequest, RecordingSink, RunningFakeExecutor } from "./fakes";

export const smallGeometry: ModelGeometry = { height: 2, width: 2, actionDim: 3, chunkSize: 4 };

export interface HarnessOptions extends Partial<Omit<ModelSchedulerOptions, "executor" | "clock" | "timer">> {
  geometry?: ModelGeometry;
  manual?: boolean;
  /** An executor with stepRun (chunks back to back, plan.ts rule 5) instead of one call per chunk. */
  runs?: boolean;
  /** Build the executor (default: FakeExecutor, or RunningFakeExecutor with `runs`). */
  makeExecutor?: (geometry: ModelGeometry, clock: FakeClock, runs: boolean) => FakeExecutor;
}

/** What harness() uses when a test does not say: a suite can run all its tests on both executors. */
export const harnessDefaults = { runs: false };

export function harness(options: HarnessOptions = {}) {
  const { geometry = smallGeometry, manual = false, runs = harnessDefaults.runs, makeExecutor, ...schedulerOptions } = options;
  const clock = new FakeClock();
  const timer = new ManualTimer(clock);
  const exec = makeExecutor ? makeExecutor(geometry, clock, runs) : runs ? new RunningFakeExecutor(geometry, clock) : new FakeExecutor(geometry, clock);
  exec.manual = manual;
  const scheduler = new ModelScheduler({
    batchLanesMax: 8,
    queueDelayUs: 0,
    model: "test-model",
    ...schedulerOptions,
    executor: exec,
    clock,
    timer,
  });
  const log: string[] = [];
  const sinks = new Map<string, RecordingSink>();
  let tag = 0;
  function submit(id: string, o: Parameters<typeof makeRequest>[2] = {}): RecordingSink {
    const sink = new RecordingSink(id, log);
    // Distinct action tags per request, so recorded step lanes trace back to (request, candidate).
    scheduler.submit(makeRequest(geometry, id, { tagBase: (tag += 100), ...o }), sink);
    sinks.set(id, sink);
    return sink;
  }
  /** End-of-test check: executor contract kept, every state released, and no sink assertion swallowed. */
  function clean(): void {
    exec.assertClean();
    if (scheduler.stats().sinkErrors !== 0) throw new Error(`${scheduler.stats().sinkErrors} sink callbacks threw (a RecordingSink assertion?)`);
  }
  return { clock, timer, exec, scheduler, log, sinks, submit, geometry, clean };
}
