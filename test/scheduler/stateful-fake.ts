// A fake executor whose frames depend only on a lane's history, as a real model's do: the state is a
// hash chained from the start frame through every chunk's actions, seed and index, and each frame's
// bytes are derived from the state after its chunk. So a lane paused, evicted and recomputed must
// produce exactly the bytes of an uninterrupted run — or the test comparing them fails. (The plain
// FakeExecutor's frames encode the lane's position in the batch instead, which tells other stories.)
import type { FakeClock } from "../../src/core/clock";
import type { EncodeItem, ModelGeometry, StepBatch, StepResult } from "../../src/scheduler/executor";
import { FakeExecutor, RunningFakeExecutor } from "./fakes";

function mix(h: number, v: number): number {
  let x = (h ^ (v >>> 0)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- TypeScript requires this signature of a mixin base
type Base = new (...args: any[]) => FakeExecutor;

function stateful<B extends Base>(BaseClass: B) {
  return class extends BaseClass {
    readonly chain = new Map<string, number>();

    override async encode(items: EncodeItem[]): Promise<void> {
      await super.encode(items);
      for (const item of items) this.chain.set(item.stateKey, item.frame.reduce((h, b) => mix(h, b), 17));
    }

    override async step(batch: StepBatch): Promise<StepResult> {
      const before = batch.lanes.map((l) => this.chain.get(l.inStateKey));
      const result = await super.step(batch);
      const { chunkSize } = this.geometry;
      const frameBytes = this.frameBytes;
      batch.lanes.forEach((lane, i) => {
        let h = before[i] ?? 0;
        for (const a of lane.actions) h = mix(h, Math.round(a * 1000));
        h = mix(mix(h, Number(lane.seed & 0xffffffffn)), lane.chunkIndex);
        this.chain.set(lane.outStateKey, h);
        for (let f = 0; f < chunkSize; f++) {
          let v = mix(h, f);
          for (let b = 0; b < frameBytes; b++) {
            result.frames[(i * chunkSize + f) * frameBytes + b] = v & 0xff;
            v = mix(v, b);
          }
        }
      });
      return result;
    }

    override release(stateKeys: string[]): void {
      super.release(stateKeys);
      for (const key of stateKeys) this.chain.delete(key);
    }
  };
}

export const StatefulFakeExecutor = stateful(FakeExecutor);
export const StatefulRunningFakeExecutor = stateful(RunningFakeExecutor);

export function statefulExecutor(geometry: ModelGeometry, clock: FakeClock, runs: boolean): FakeExecutor {
  return runs ? new StatefulRunningFakeExecutor(geometry, clock) : new StatefulFakeExecutor(geometry, clock);
}
