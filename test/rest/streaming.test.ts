// Server-streaming over HTTP (ndjson with backpressure) and cancellation via ctx.signal.

import { strict as assert } from "node:assert";
import * as http from "node:http";
import { ServiceError } from "../../src/core/errors";
import { Balance, StreamPredictResponse } from "../../src/gen/dream/v1/dream";
import { eventually, FakeMethods, json, sleep, start, type Started } from "./helpers";

const STREAM = "/dream.v1.Models/StreamPredict";
const BALANCE = "/dream.v1.Billing/GetBalance";

const chunk = (i: number, bytes = 0) =>
  StreamPredictResponse.fromPartial({ event: { $case: "chunk", value: { chunkIndex: i, encoding: 2, candidates: [{ candidateIndex: 0, firstFrameIndex: i * 12, frames: bytes ? [Buffer.alloc(bytes, i)] : [] }] } } });

describe("rest: ndjson streaming and cancellation", () => {
  let s: Started;
  let streamImpl: (ctx: any, send: (m: unknown) => Promise<void>) => Promise<void> = async () => {};
  let unaryImpl: (ctx: any) => Promise<unknown> = async () => Balance.fromPartial({});
  const fake = new FakeMethods().stream(STREAM, (_req, ctx, send) => streamImpl(ctx, send)).unary(BALANCE, (_req, ctx) => unaryImpl(ctx));
  before(async () => (s = await start(fake.table)));
  after(() => s.close());

  const streamRequest = (): Promise<http.IncomingMessage> =>
    new Promise((resolve, reject) => {
      const req = http.request(`${s.url}/v1/models/m/stream_predict`, { method: "POST", headers: { "content-type": "application/json" } }, resolve);
      req.on("error", reject);
      req.end("{}");
    });

  it("writes one JSON message per line, each flushed as it is produced", async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    streamImpl = async (ctx, send) => {
      ctx.responseHeaders.set("x-dreamengine-request-id", ctx.requestId);
      await send(chunk(0));
      await released; // the client must see line 0 before the handler produces anything else
      await send(StreamPredictResponse.fromPartial({ event: { $case: "summary", value: { summary: { frames: 49, cost: { micros: 24500, usd: "0.0245" } }, framesPerCandidate: [49] } } }));
    };
    const res = await streamRequest();
    assert.equal(res.statusCode, 200);
    assert.match(res.headers["content-type"]!, /^application\/x-ndjson/);
    res.setEncoding("utf8");
    let text = "";
    await new Promise<void>((resolve) => {
      res.on("data", (d: string) => {
        text += d;
        if (text.includes("\n")) resolve();
      });
    });
    const first = JSON.parse(text.split("\n")[0]!);
    assert.deepEqual(first, { chunk: { chunk_index: 0, encoding: "PNG", candidates: [{ candidate_index: 0, first_frame_index: 0, frames: [] }] } });
    release();
    await new Promise((r) => res.on("end", r));
    const lines = text.trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    assert.equal(lines[1].summary.summary.cost.usd, "0.0245");
    assert.deepEqual(lines[1].summary.frames_per_candidate, [49]);
  });

  it("applies backpressure: a paused reader stops the handler, resuming lets it finish in order", async () => {
    const N = 40;
    const bytes = 1 << 20; // 40 messages of ~1.4 MB JSON: far more than any socket buffers hold
    let sent = 0;
    let done = false;
    streamImpl = async (_ctx, send) => {
      for (let i = 0; i < N; i++) {
        await send(chunk(i, bytes));
        sent++;
      }
      done = true;
    };
    const res = await streamRequest();
    res.pause();
    await eventually(() => sent > 0, "first send");
    await sleep(300);
    assert.ok(sent < N && !done, `handler must be held back by the paused reader (sent ${sent} of ${N})`);
    res.setEncoding("utf8");
    let buffered = "";
    const indices: number[] = [];
    res.on("data", (d: string) => {
      buffered += d;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        indices.push(JSON.parse(buffered.slice(0, nl)).chunk.chunk_index);
        buffered = buffered.slice(nl + 1);
      }
    });
    res.resume();
    await new Promise((r) => res.on("end", r));
    assert.deepEqual(indices, Array.from({ length: N }, (_, i) => i));
    assert.equal(done, true);
  });

  it("an error after the stream started becomes a final {\"error\": …} line", async () => {
    streamImpl = async (_ctx, send) => {
      await send(chunk(0));
      throw new ServiceError("ENGINE_FAILURE", "runner crashed", { chunk_index: 1 });
    };
    const res = await fetch(`${s.url}/v1/models/m/stream_predict`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(res.status, 200);
    const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    assert.equal(lines[1].error.reason, "ENGINE_FAILURE");
    assert.equal(lines[1].error.code, "internal");
    assert.equal(lines[1].error.chunk_index, 1);
    assert.equal(lines[1].error.request_id, res.headers.get("x-dreamengine-request-id"));
  });

  it("an error before the first message is an ordinary error response", async () => {
    streamImpl = async () => {
      throw new ServiceError("INSUFFICIENT_CREDITS", "no money", { balance_cents: 0, requested_cents: 3 });
    };
    const res = await fetch(`${s.url}/v1/models/m/stream_predict`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(res.status, 402);
    assert.equal((await json(res)).error.requested_cents, 3);
  });

  it("a client that disconnects mid-stream aborts ctx.signal and makes send reject", async () => {
    let sendError: unknown;
    let signal: AbortSignal | undefined;
    streamImpl = async (ctx, send) => {
      signal = ctx.signal;
      try {
        for (let i = 0; ; i++) await send(chunk(i, 64 * 1024));
      } catch (err) {
        sendError = err;
        throw err;
      }
    };
    const res = await streamRequest();
    await new Promise((r) => res.once("data", r));
    res.destroy();
    await eventually(() => signal?.aborted === true && sendError !== undefined, "abort after disconnect");
    assert.equal((signal!.reason as ServiceError).reason, "CANCELLED");
    assert.equal((sendError as ServiceError).reason, "CANCELLED");
  });

  it("a client that disconnects during a unary call aborts ctx.signal", async () => {
    let signal: AbortSignal | undefined;
    unaryImpl = (ctx) =>
      new Promise((_resolve, reject) => {
        signal = ctx.signal;
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
      });
    const controller = new AbortController();
    const pending = fetch(`${s.url}/v1/billing/balance`, { signal: controller.signal }).catch((err) => err);
    await eventually(() => signal !== undefined, "handler started");
    assert.equal(signal!.aborted, false);
    controller.abort();
    await pending;
    await eventually(() => signal!.aborted, "abort after disconnect");
    assert.equal((signal!.reason as ServiceError).reason, "CANCELLED");
  });

  it("X-DreamEngine-Deadline-Ms aborts ctx.signal with DEADLINE_EXCEEDED when it passes", async () => {
    unaryImpl = (ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
    const res = await fetch(`${s.url}/v1/billing/balance`, { headers: { "x-dreamengine-deadline-ms": "20" } });
    assert.equal(res.status, 504);
    assert.equal((await json(res)).error.reason, "DEADLINE_EXCEEDED");
  });
});
