// Replica placement (scheduler/placement.ts): the pure decision of which replica a new request goes to.
import assert from "node:assert/strict";
import { placeRequest, type ReplicaView } from "../../src/scheduler/placement";

function replica(o: Partial<ReplicaView> = {}): ReplicaView {
  return { healthy: true, batchLanesMax: 8, interactiveLanes: 0, interactiveQueuedLanes: 0, batchLanes: 0, batchQueuedLanes: 0, stepUsEstimate: 10_000, ...o };
}

describe("scheduler/placement: which replica a request starts on soonest", () => {
  const cases: { name: string; replicas: ReplicaView[]; lanes: number; priority?: "interactive" | "batch"; expect: number | undefined; batchesAhead?: number }[] = [
    { name: "all idle: the first", replicas: [replica(), replica()], lanes: 4, expect: 0, batchesAhead: 0 },
    { name: "both can start it now: the one with fewer lanes ahead", replicas: [replica({ interactiveLanes: 4 }), replica({ interactiveLanes: 2 })], lanes: 2, expect: 1, batchesAhead: 0 },
    { name: "only one can start it at the next boundary", replicas: [replica({ interactiveLanes: 6 }), replica({ interactiveLanes: 2, interactiveQueuedLanes: 2 })], lanes: 4, expect: 1, batchesAhead: 0 },
    { name: "batch lanes are preemptible: an interactive request ignores them", replicas: [replica({ batchLanes: 8, batchQueuedLanes: 40 }), replica({ interactiveLanes: 6 })], lanes: 4, expect: 0, batchesAhead: 0 },
    { name: "a batch request counts every lane ahead", replicas: [replica({ batchLanes: 8, batchQueuedLanes: 40 }), replica({ interactiveLanes: 6 })], lanes: 4, priority: "batch", expect: 1, batchesAhead: 1 },
    { name: "both busy: the faster replica, by its step estimate", replicas: [replica({ interactiveLanes: 8, interactiveQueuedLanes: 8, stepUsEstimate: 30_000 }), replica({ interactiveLanes: 8, interactiveQueuedLanes: 16, stepUsEstimate: 5_000 })], lanes: 4, expect: 1, batchesAhead: 3 },
    { name: "an unhealthy replica (restarting, failed, draining) gets nothing", replicas: [replica({ healthy: false }), replica({ interactiveLanes: 8 })], lanes: 4, expect: 1, batchesAhead: 1 },
    { name: "none healthy: no placement", replicas: [replica({ healthy: false }), replica({ healthy: false })], lanes: 1, expect: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = placeRequest(c.replicas, c.lanes, c.priority ?? "interactive");
      assert.equal(p?.replica, c.expect);
      if (c.batchesAhead !== undefined) assert.equal(p?.batchesAhead, c.batchesAhead);
    });
  }

  it("a stream of equal requests spreads over idle replicas as their lanes fill", () => {
    const replicas = [replica(), replica(), replica()];
    const chosen: number[] = [];
    for (let i = 0; i < 6; i++) {
      const p = placeRequest(replicas, 4, "interactive")!;
      chosen.push(p.replica);
      replicas[p.replica]!.interactiveLanes += 4;
    }
    assert.deepEqual(chosen, [0, 1, 2, 0, 1, 2]);
  });
});
