// The process and Node.js metrics keep prom-client's standard names: no doubled prefix.
import assert from "node:assert/strict";
import { Metrics } from "../../src/observability/metrics";

describe("Metrics: process metrics", () => {
  it("renders process_* and nodejs_* under their standard names, never dream_process_process_*", async () => {
    const text = await new Metrics(() => []).render();
    assert.match(text, /^process_cpu_seconds_total \d/m);
    assert.match(text, /^process_resident_memory_bytes \d/m);
    assert.match(text, /^nodejs_heap_size_used_bytes \d/m);
    assert.doesNotMatch(text, /process_process_/);
    assert.doesNotMatch(text, /^dream_process_/m);
    assert.match(text, /^# TYPE dream_queue_requests gauge$/m, "the engine's own metrics keep their dream_ prefix");
  });
});
