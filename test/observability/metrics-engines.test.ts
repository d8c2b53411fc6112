// Metrics reads engine figures only through the function it is given (no service/ import): each scrape
// calls it and the per-model gauges show what it returned then.
import assert from "node:assert/strict";
import { Metrics, type EngineSample } from "../../src/observability/metrics";

describe("Metrics: engine gauges through EngineSamples", () => {
  it("renders queue depth, running and paused lanes and restarts per model from the supplied function, at scrape time", async () => {
    let samples: EngineSample[] = [{ model: "m-a", queueRequests: 3, runningLanes: 8, runnerRestarts: 1, pausedLanes: 4 }];
    const metrics = new Metrics(() => samples);
    const first = await metrics.render();
    assert.match(first, /^dream_queue_requests\{model="m-a"\} 3$/m);
    assert.match(first, /^dream_running_lanes\{model="m-a"\} 8$/m);
    assert.match(first, /^dream_runner_restarts\{model="m-a"\} 1$/m);
    assert.match(first, /^dream_paused_lanes\{model="m-a"\} 4$/m);
    samples = [{ model: "m-b", queueRequests: 0, runningLanes: 2, runnerRestarts: 0, pausedLanes: 0 }];
    const second = await metrics.render();
    assert.match(second, /^dream_running_lanes\{model="m-b"\} 2$/m);
  });
});
