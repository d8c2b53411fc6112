// The floor bench:saturation compares served throughput against: gpu/direct.ts running the same model
// in this process, on this thread, at every batch size the server may form from K-candidate requests
// (K, 2K, … up to the catalog's batchLanesMax), in its own phase with no served load running. The
// best frames/s over those sizes is the floor, since the served engine is free to pick any of them.
import type { CatalogEntry } from "../src/config/catalog";
import { DirectModel } from "../gpu/direct";
import { testActions, testFrame } from "../test/e2e/harness";
import { percentile, round } from "./lib";
import type { Progress } from "./progress";

export interface FloorPoint {
  lanes: number;
  reps: number;
  warmed: boolean;
  medianMs: number;
  framesPerS: number;
}

export function floorLanes(entry: CatalogEntry, k: number): number[] {
  const out: number[] = [];
  for (let lanes = k; lanes <= entry.batchLanesMax; lanes += k) out.push(lanes);
  return out;
}

/**
 * `warmEach`: one unmeasured run per size first (first-call allocations, and the output buffer the
 * reps then reuse, as the served path reuses its response buffer). Quick mode skips it for 480p,
 * where one such run takes 8–16 s; the rows say so.
 */
export async function measureFloor(modelDir: string, entry: CatalogEntry, k: number, t: number, reps: number, warmEach: boolean, bar: Progress): Promise<FloorPoint[]> {
  const [h, w] = entry.resolution;
  const frame = testFrame(h, w);
  const lanesList = floorLanes(entry, k);
  const direct = await DirectModel.open(modelDir, entry, { warmLanes: k });
  const points: FloorPoint[] = [];
  try {
    for (const lanes of lanesList) {
      const actions = new Float32Array(lanes * t * entry.actionDim);
      // Lane i gets the same actions as candidate i % k of the served requests.
      for (let i = 0; i < lanes; i++) actions.set(testActions(t, entry.actionDim, i % k), i * t * entry.actionDim);
      const input = { k: lanes, t, numSteps: entry.defaultNumSteps, seed: 1n, frame, actions };
      let into = warmEach ? (await direct.run(input)).frames : undefined;
      const ms: number[] = [];
      for (let r = 0; r < reps; r++) {
        const d = await direct.run({ ...input, into });
        into = d.frames;
        ms.push(d.wallMs);
        bar.tick(1, `floor ${lanes} lanes`);
      }
      const medianMs = percentile(ms, 0.5);
      points.push({ lanes, reps, warmed: warmEach, medianMs: round(medianMs), framesPerS: round((lanes * (t + 1)) / (medianMs / 1000)) });
    }
  } finally {
    await direct.close();
  }
  return points;
}
