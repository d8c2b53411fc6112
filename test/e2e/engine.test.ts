// End to end over real gRPC: reflection, PredictBatch on both reference models, bad input, unknown and
// unavailable models, and chunk-level joining of a request that arrives while another is running.
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import assert from "node:assert/strict";
import path from "node:path";
import { DreamError, packActions } from "../../clients/typescript/src";
import { FrameEncoding } from "../../src/gen/dream/v1/dream";
import { HealthCheckResponse_ServingStatus, HealthClient } from "../../src/gen/grpc/health/v1/health";
import { startHarness, testActions, testFrame, type Harness } from "./harness";

const TINY = "dream-reference-tiny";
const FULL = "dream-reference-480p";

async function expectError(p: Promise<unknown>, reason: string, messagePart?: RegExp): Promise<DreamError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof DreamError, `expected DreamError, got ${String(err)}`);
    assert.equal(err.reason, reason, `reason: ${err.message}`);
    if (messagePart) assert.match(err.message, messagePart);
    return err;
  }
  assert.fail(`expected ${reason}`);
}

function listServicesByReflection(address: string): Promise<string[]> {
  const protoPath = path.join(path.dirname(require.resolve("@grpc/reflection/package.json")), "build", "proto", "grpc", "reflection", "v1", "reflection.proto");
  const def = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath, { keepCase: true })) as any;
  const client = new def.grpc.reflection.v1.ServerReflection(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo();
    call.on("data", (res: any) => {
      resolve(res.list_services_response.service.map((s: any) => s.name).sort());
      call.end();
      client.close();
    });
    call.on("error", reject);
    call.write({ list_services: "*" });
  });
}

describe("e2e: engine over gRPC (tiny model)", function () {
  this.timeout(120_000);
  let h: Harness;
  const frame = testFrame(48, 64);
  const startFrame = { encoding: FrameEncoding.RAW_RGB8, data: frame, height: 48, width: 64 };
  const cands = (k: number, t: number) => Array.from({ length: k }, (_, i) => packActions(testActions(t, 384, i), t, 384));

  before(async () => {
    h = await startHarness();
  });
  after(async () => h?.stop());

  it("lists the services through server reflection", async () => {
    const services = await listServicesByReflection(h.grpcAddress);
    for (const s of ["dream.v1.Models", "dream.v1.Billing", "dream.v1.Status", "grpc.health.v1.Health"]) assert.ok(services.includes(s), `${s} missing from ${services.join(", ")}`);
  });

  it("grpc.health.v1 and /healthz agree on readiness; unknown services are NOT_FOUND", async () => {
    const health = new HealthClient(h.grpcAddress, grpc.credentials.createInsecure());
    const check = (service: string) =>
      new Promise<number>((resolve, reject) => health.check({ service }, (err, res) => (err ? reject(err) : resolve(res.status))));
    const http = async () => ((await (await fetch(`${h.httpBase}/healthz`)).json()) as { ready: boolean }).ready;
    assert.equal(await check(""), HealthCheckResponse_ServingStatus.SERVING);
    assert.equal(await check("dream.v1.Models"), HealthCheckResponse_ServingStatus.SERVING);
    assert.equal(await http(), true);
    await assert.rejects(check("no.such.Service"), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
    health.close();
  });

  it("lists all catalog models; the DreamDojo checkpoints are unavailable until their files exist", async () => {
    const models = await h.client.listModels();
    const bySlug = new Map(models.map((m) => [m.slug, m]));
    assert.equal(bySlug.get(TINY)?.status, "live");
    for (const s of ["dreamdojo-2b-gr1", "dreamdojo-2b-agibot", "dreamdojo-2b-g1", "dreamdojo-2b-yam"]) {
      assert.equal(bySlug.get(s)?.status, "unavailable");
      assert.equal(bySlug.get(s)?.arch?.actionDim, 384);
    }
    assert.equal(bySlug.get(TINY)?.pricing?.pricePerRolloutUsd, 0.0245);
  });

  it("PredictBatch returns K rollouts of T+1 frames with charges in headers and summary", async () => {
    const { response, headers } = await h.client.predictBatch({ model: TINY, startFrame, candidates: cands(3, 20) });
    assert.equal(response.rollouts.length, 3);
    for (const [i, r] of response.rollouts.entries()) {
      assert.equal(r.candidateIndex, i);
      assert.equal(r.frames.length, 21);
      assert.equal(r.frameCount, 21);
      assert.deepEqual(Buffer.from(r.frames[0]!), Buffer.from(frame), "frame 0 is the start frame");
      for (const f of r.frames) assert.equal(f.byteLength, 48 * 64 * 3);
    }
    assert.equal(response.summary?.frames, 63);
    assert.equal(response.summary?.cost?.micros, 63 * 500);
    assert.equal(headers["x-dreamengine-frames"], "63");
    assert.equal(headers["x-dreamengine-estimated-charge-usd"], "0.0315");
    assert.equal(headers["x-dreamengine-request-id"], response.summary?.requestId);
  });

  it("rejects bad input with INVALID_ARGUMENT naming the field, expected and given", async () => {
    const bad = (over: object) => h.client.predictBatch({ model: TINY, startFrame, candidates: cands(1, 12), ...over });
    await expectError(bad({ startFrame: { encoding: FrameEncoding.RAW_RGB8, data: testFrame(64, 48), height: 64, width: 48 } }), "INVALID_ARGUMENT", /start_frame.*48x64/);
    await expectError(bad({ startFrame: { encoding: FrameEncoding.PNG, data: new Uint8Array([1, 2, 3, 4, 5]), height: 0, width: 0 } }), "INVALID_ARGUMENT", /start_frame/);
    await expectError(bad({ candidates: [packActions(new Float32Array(12 * 100), 12, 100)] }), "INVALID_ARGUMENT", /candidates\[0\].*384.*\(12, 100\)/);
    await expectError(bad({ candidates: [{ data: new Uint8Array(10), shape: [12, 384] }] }), "INVALID_ARGUMENT", /needs 18432 bytes, got 10/);
    const nan = testActions(12, 384, 0);
    nan[5] = Number.NaN;
    await expectError(bad({ candidates: [packActions(nan, 12, 384)] }), "INVALID_ARGUMENT", /finite/);
    await expectError(bad({ candidates: [{ data: new Uint8Array(0), shape: [0, 384] }] }), "INVALID_ARGUMENT", /T must be/);
    await expectError(bad({ candidates: [packActions(new Float32Array(241 * 384), 241, 384)] }), "INVALID_ARGUMENT", /T must be in 1\.\.240/);
    await expectError(bad({ candidates: [] }), "INVALID_ARGUMENT", /K must be/);
    await expectError(bad({ candidates: cands(33, 1) }), "INVALID_ARGUMENT", /K must be/);
    await expectError(bad({ model: "no-such-model" }), "MODEL_NOT_FOUND");
    await expectError(bad({ model: "dreamdojo-2b-gr1" }), "MODEL_UNAVAILABLE", /not installed/);
  });

  it("rejects an oversized message with a clear RESOURCE_EXHAUSTED", async () => {
    const huge = { encoding: FrameEncoding.RAW_RGB8, data: new Uint8Array(70 * 1024 * 1024), height: 48, width: 64 };
    try {
      await h.client.predictBatch({ model: TINY, startFrame: huge, candidates: cands(1, 12) });
      assert.fail("expected an error");
    } catch (err) {
      assert.ok(err instanceof DreamError);
      assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.match(err.message, /larger than max/i);
    }
  });

  it("a request arriving while a long batch runs gets its first chunk before that batch finishes", async () => {
    // A long request (20 chunks at many diffusion steps), then a short one once the long one is running.
    const long = h.client.streamPredict({ model: TINY, startFrame, candidates: cands(2, 240), params: { numSteps: 32, seed: 0 } });
    const events: string[] = [];
    let shortStarted: Promise<void> | undefined;
    const longDone = (async () => {
      for await (const m of long.messages) {
        if (m.event?.$case === "chunk") {
          events.push(`long:chunk${m.event.value.chunkIndex}`);
          if (m.event.value.chunkIndex === 0) {
            shortStarted = (async () => {
              const short = h.client.streamPredict({ model: TINY, startFrame, candidates: cands(1, 12) });
              for await (const s of short.messages) if (s.event?.$case === "chunk") events.push("short:chunk0");
            })();
          }
        } else events.push("long:summary");
      }
    })();
    await longDone;
    await shortStarted;
    const shortAt = events.indexOf("short:chunk0");
    const longEnd = events.indexOf("long:summary");
    assert.ok(shortAt > 0 && shortAt < longEnd, `short request must start before the long one ends: ${events.join(" ")}`);
    assert.ok(events.indexOf("long:chunk19") > shortAt, "the long request was still running when the short one got its chunk");
  });
});

describe("e2e: PredictBatch K=8, T=48 on the 480x640 reference model", function () {
  this.timeout(300_000);
  let h: Harness;
  const frame = testFrame(480, 640);
  const startFrame = { encoding: FrameEncoding.RAW_RGB8, data: frame, height: 480, width: 640 };
  const candidates = Array.from({ length: 8 }, (_, i) => packActions(testActions(48, 384, i), 48, 384));

  before(async () => {
    h = await startHarness({ DREAM_MODELS: FULL });
  });
  after(async () => h?.stop());

  it("returns 8 x 49 frames of 480x640, identical for a fixed seed, different across candidates", async () => {
    const a = (await h.client.predictBatch({ model: FULL, startFrame, candidates, params: { numSteps: 0, seed: 7 } })).response;
    assert.equal(a.rollouts.length, 8);
    for (const r of a.rollouts) {
      assert.equal(r.frames.length, 49);
      assert.equal(r.height, 480);
      assert.equal(r.width, 640);
      for (const f of r.frames) assert.equal(f.byteLength, 480 * 640 * 3);
      assert.ok(Buffer.from(r.frames[0]!).equals(Buffer.from(frame)), "frame 0 corresponds to the start frame");
    }
    assert.equal(a.summary?.frames, 392);
    assert.equal(a.summary?.cost?.usd, "0.196");
    // Different actions → different predicted frames.
    for (let k = 1; k < 8; k++) assert.ok(!Buffer.from(a.rollouts[0]!.frames[48]!).equals(Buffer.from(a.rollouts[k]!.frames[48]!)), `candidate ${k} equals candidate 0`);
    // Same inputs and seed → identical frames.
    const b = (await h.client.predictBatch({ model: FULL, startFrame, candidates: candidates.slice(0, 2), params: { numSteps: 0, seed: 7 } })).response;
    for (let k = 0; k < 2; k++) {
      for (let f = 0; f < 49; f++) assert.ok(Buffer.from(a.rollouts[k]!.frames[f]!).equals(Buffer.from(b.rollouts[k]!.frames[f]!)), `candidate ${k} frame ${f} differs between runs`);
    }
  });
});
