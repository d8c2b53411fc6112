// ChunkDelivery: the chunks held while a request's hold record is written go to the consumer one at a
// time once it lands, each after the consumer's promise for the one before, with chunks the engine
// produces meanwhile kept behind them in order; handedOver() resolves when all are through. Handed
// over in one burst, a stream counted them all as unsent at once and failed a reader that was never
// slow (STREAM_STALLED in CI, when the ledger took long to record under load).
import assert from "node:assert/strict";
import { ChunkDelivery } from "../../src/service/chunk-delivery";
import { HoldRecord } from "../../src/service/hold-record";
import type { EngineChunk } from "../../src/service/ports";

const START = new Uint8Array([9]);
const chunk = (i: number): EngineChunk => ({ chunkIndex: i, lanes: [{ candidateIndex: 0, firstFrameIndex: i * 2 + 1, frames: [new Uint8Array([i]), new Uint8Array([i])] }] });
const tick = () => new Promise<void>((r) => setImmediate(r));

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** A consumer like a stream's writer: each chunk's promise settles when the test says it was sent. */
function pacedConsumer() {
  const handed: number[] = [];
  const sends: Array<ReturnType<typeof deferred>> = [];
  let unsent = 0;
  let unsentMax = 0;
  const onChunk = (c: EngineChunk): Promise<void> => {
    handed.push(c.chunkIndex);
    const d = deferred();
    sends.push(d);
    unsentMax = Math.max(unsentMax, ++unsent);
    return d.promise.finally(() => unsent--);
  };
  return { handed, sends, onChunk, unsentMax: () => unsentMax };
}

/** A delivery whose hold record is still being written, with a paced consumer and a cancel counter. */
function pendingDelivery() {
  const landed = deferred();
  const record = new HoldRecord(landed.promise);
  const c = pacedConsumer();
  const cancels = { count: 0 };
  const delivery = new ChunkDelivery(START, c.onChunk, record, () => cancels.count++);
  return { landed, record, c, cancels, delivery };
}

describe("ChunkDelivery", () => {
  it("held chunks go over one at a time after the record lands, live chunks stay behind them in order, handedOver waits for the last", async () => {
    const { landed, record, c, cancels, delivery } = pendingDelivery();
    for (let i = 0; i < 6; i++) assert.equal(delivery.take(chunk(i)), undefined, "held while the record is pending");
    assert.deepEqual(c.handed, []);
    landed.resolve();
    await record.known;
    let over = false;
    void delivery.handedOver().then(() => (over = true));
    await tick();
    assert.deepEqual(c.handed, [0], "one at a time: the next waits for this one's send");
    delivery.take(chunk(6)); // a live chunk arriving during the flush
    for (let sent = 0; sent < 7; sent++) {
      assert.equal(over, false);
      c.sends[sent]!.resolve();
      await tick();
    }
    assert.deepEqual(c.handed, [0, 1, 2, 3, 4, 5, 6], "in chunk order, the live one after the held ones");
    assert.equal(c.unsentMax(), 1, "never more than one held chunk unsent at once");
    assert.equal(over, true);
    assert.equal(cancels.count, 0);
    assert.equal(delivery.error, undefined);
    // Chunk 0 carries the start frame in front of its own frames.
    const frames: Uint8Array[][] = [];
    const direct = new ChunkDelivery(START, (ch) => void frames.push(ch.lanes[0]!.frames), HoldRecord.recorded(), () => undefined);
    direct.take(chunk(0));
    assert.deepEqual(frames[0], [START, new Uint8Array([0]), new Uint8Array([0])]);
  });

  it("after the flush, chunks go straight to the consumer again", async () => {
    const { landed, record, c, delivery } = pendingDelivery();
    delivery.take(chunk(0));
    landed.resolve();
    await record.known;
    await tick();
    c.sends[0]!.resolve();
    await delivery.handedOver();
    const pending = delivery.take(chunk(1));
    assert.ok(pending instanceof Promise, "a live chunk is handed over at once and its promise returned");
    assert.deepEqual(c.handed, [0, 1]);
  });

  it("a consumer failing during the flush cancels the request and drops the rest", async () => {
    const { landed, record, c, cancels, delivery } = pendingDelivery();
    for (let i = 0; i < 4; i++) delivery.take(chunk(i));
    landed.resolve();
    await record.known;
    await tick();
    c.sends[0]!.resolve();
    await tick();
    const boom = new Error("the reader went away");
    c.sends[1]!.reject(boom);
    await delivery.handedOver();
    assert.deepEqual(c.handed, [0, 1]);
    assert.equal(delivery.error, boom);
    assert.equal(cancels.count, 1);
    assert.equal(delivery.take(chunk(4)), undefined, "nothing more after a failure");
    assert.deepEqual(c.handed, [0, 1]);
  });

  it("a refused record hands nothing over and cancels the request", async () => {
    const { landed, record, c, cancels, delivery } = pendingDelivery();
    delivery.take(chunk(0));
    delivery.take(chunk(1));
    landed.reject(new Error("ledger said no"));
    await record.known;
    await delivery.handedOver();
    assert.deepEqual(c.handed, []);
    assert.equal(cancels.count, 1);
  });
});
