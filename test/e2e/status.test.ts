// /v1/status against the whole server (tiny model): request latency counts from when the transport
// received the request, so a client's slow upload is part of it (it was not when latency started at
// admission); mean_batch_size is the engine's lanes per step, equal to the scheduler's own counters.
import assert from "node:assert/strict";
import http from "node:http";
import { packActions } from "../../clients/typescript/src";
import type { SchedulerEngine } from "../../src/app/engine";
import { FrameEncoding } from "../../src/gen/dream/v1/dream";
import { sleep, startHarness, testActions, testFrame, type Harness } from "./harness";

const TINY = "dream-reference-tiny";
const H = 48;
const W = 64;
/** How long the slow client pauses mid-body. */
const UPLOAD_PAUSE_MS = 600;

interface Window {
  window: string;
  requests: number;
  p50_ms?: number;
  p99_ms?: number;
  mean_batch_size?: number;
}

describe("e2e: /v1/status latency and batch size (tiny model)", function () {
  this.timeout(120_000);
  let h: Harness;
  const frame = testFrame(H, W);

  before(async () => {
    h = await startHarness();
  });
  after(async () => h?.stop());

  const modelWindow = async (): Promise<Window> => {
    const body = (await (await fetch(`${h.httpBase}/v1/status`)).json()) as { models: { slug: string; windows: Window[] }[] };
    return body.models.find((m) => m.slug === TINY)!.windows.find((w) => w.window === "1m")!;
  };

  /** A JSON predict whose body arrives in two parts, UPLOAD_PAUSE_MS apart; resolves with the client-side latency. */
  function slowUploadPredict(): Promise<{ status: number; clientMs: number }> {
    const t = 12;
    const body = Buffer.from(
      JSON.stringify({
        start_frame: { encoding: "RAW_RGB8", data: Buffer.from(frame).toString("base64"), height: H, width: W },
        actions: { data: Buffer.from(testActions(t, 384, 0).buffer).toString("base64"), shape: [t, 384] },
        output: { encoding: "RAW_RGB8" },
      }),
    );
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const req = http.request(`${h.httpBase}/v1/models/${TINY}/predict`, {
        method: "POST",
        headers: { authorization: `Bearer ${h.apiKey}`, "content-type": "application/json", "content-length": String(body.length) },
      });
      req.on("response", (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, clientMs: performance.now() - started }));
      });
      req.on("error", reject);
      req.flushHeaders();
      req.write(body.subarray(0, 100));
      setTimeout(() => req.end(body.subarray(100)), UPLOAD_PAUSE_MS);
    });
  }

  it("latency counts from when the transport received the request: a paused upload is included, and stays within what the client saw", async () => {
    const { status, clientMs } = await slowUploadPredict();
    assert.equal(status, 200);
    const w = await modelWindow();
    assert.equal(w.requests, 1);
    // Histogram buckets report their upper bound (~9% wide), so the client's time bounds it from above.
    assert.ok(w.p50_ms! >= UPLOAD_PAUSE_MS, `p50 ${w.p50_ms} ms includes the ${UPLOAD_PAUSE_MS} ms upload pause (client saw ${clientMs.toFixed(0)} ms)`);
    assert.ok(w.p99_ms! <= clientMs * 1.1, `p99 ${w.p99_ms} ms is no more than the client's ${clientMs.toFixed(0)} ms`);
  });

  it("mean_batch_size is lanes per engine step (the scheduler's counters), not the requests' mean K", async () => {
    const cands = (k: number, t: number) => Array.from({ length: k }, (_, i) => packActions(testActions(t, 384, i), t, 384));
    const startFrame = { encoding: FrameEncoding.RAW_RGB8, data: frame, height: H, width: W };
    await Promise.all([
      h.client.predictBatch({ model: TINY, startFrame, candidates: cands(1, 48) }),
      h.client.predictBatch({ model: TINY, startFrame, candidates: cands(3, 12) }),
    ]);
    await sleep(50);
    const stats = (h.app.registry.get(TINY).engine as SchedulerEngine).scheduler.stats();
    const w = await modelWindow();
    assert.equal(w.requests, 3);
    assert.ok(stats.chunksStepped > 0);
    assert.equal(w.mean_batch_size, stats.laneChunksStepped / stats.chunksStepped, `status ${w.mean_batch_size} vs engine ${stats.laneChunksStepped}/${stats.chunksStepped}`);
    assert.notEqual(w.mean_batch_size, (1 + 1 + 3) / 3, "not the mean K of the three requests");
  });
});
