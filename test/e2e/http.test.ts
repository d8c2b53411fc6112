// End to end over real HTTP (global fetch / node:http) against the whole server started in-process
// (startHarness: tiny 48x64 model, embedded ledger, in-process balances): every endpoint of
// docs/API.md (the spec copy: docs/HTTP_SURFACE.md) with its documented status codes, headers and bodies — health, status,
// the model catalog, multipart/JSON predict (MP4 that decodes to T+1 frames), predict_batch as
// multipart/mixed, billing (balance, topup with and without Stripe, transactions, the signed webhook),
// OpenAPI, /metrics, and the error table 400/401/402/403/404/405/412/413/415/429/503/504.
// No timed assertions: statuses, headers, bodies, counts and money only.
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import * as http from "node:http";
import { join } from "node:path";
import sharp from "sharp";
import { decodeMp4, encodeNpy } from "../../src/codec";
import { startFakeStripeServer, type FakeStripeServer } from "../fakes/fake-stripe-server";
import { checkoutEventPayload, randomEventId, signed } from "../stripe/events";
import { REPO_ROOT, startHarness, testActions, testFrame, type Harness } from "./harness";

const TINY = "dream-reference-tiny";
const H = 48;
const W = 64;
const D = 384;
const FRAME_BYTES = H * W * 3;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const CATALOG = ["dream-reference-480p", TINY, "dreamdojo-2b-gr1", "dreamdojo-2b-agibot", "dreamdojo-2b-g1", "dreamdojo-2b-yam"];

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

/** A well-formed key (dre_ + 43 base32 chars) that the server never issued. */
function unknownKey(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  return "dre_" + Array.from(randomBytes(43), (b) => alphabet[b & 31]).join("");
}

async function pngFrame(height = H, width = W): Promise<Buffer> {
  return sharp(Buffer.from(testFrame(height, width)), { raw: { width, height, channels: 3 } }).png().toBuffer();
}

const npy = (steps: number, k = 0, dim = D): Buffer => encodeNpy(testActions(steps, dim, k), [steps, dim]);

function stackedNpy(k: number, steps: number): Buffer {
  const all = new Float32Array(k * steps * D);
  for (let i = 0; i < k; i++) all.set(testActions(steps, D, i), i * steps * D);
  return encodeNpy(all, [k, steps, D]);
}

/** A float64 (T, D) .npy as numpy.save writes it (encodeNpy only writes float32 and uint8). */
function npyF64(values: Float32Array, shape: number[]): Buffer {
  let dict = `{'descr': '<f8', 'fortran_order': False, 'shape': (${shape.join(", ")}), }`;
  dict += " ".repeat((64 - ((10 + dict.length + 1) % 64)) % 64) + "\n";
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(dict.length, 8);
  const data = Float64Array.from(values);
  return Buffer.concat([head, Buffer.from(dict, "latin1"), Buffer.from(data.buffer)]);
}

function form(frame: Buffer | undefined, actions: Buffer[], fields: Record<string, string> = {}): FormData {
  const fd = new FormData();
  if (frame) fd.append("frame", new Blob([frame], { type: "image/png" }), "frame.png");
  actions.forEach((a, i) => fd.append("actions", new Blob([a], { type: "application/x-npy" }), `actions${i}.npy`));
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  return fd;
}

interface ApiError {
  code: string;
  reason: string;
  message: string;
  request_id: string;
  [detail: string]: unknown;
}

/** The documented error shape: status, JSON {"error": {code, reason, message, request_id, …}}, and the request id header. */
async function expectError(res: Response, status: number, reason: string, code: string): Promise<ApiError> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status} ${reason}, got ${res.status}: ${text.slice(0, 400)}`);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/, "error bodies are JSON");
  const requestId = res.headers.get("x-dreamengine-request-id") ?? "";
  assert.match(requestId, UUID, "X-DreamEngine-Request-Id on every error");
  const body = JSON.parse(text) as { error: ApiError };
  assert.deepEqual(Object.keys(body), ["error"]);
  const e = body.error;
  assert.equal(e.reason, reason, text);
  assert.equal(e.code, code, text);
  assert.ok(typeof e.message === "string" && e.message.length > 0, "message");
  assert.equal(e.request_id, requestId, "body request_id equals the header");
  return e;
}

async function json<T = any>(res: Response, status = 200): Promise<T> {
  const text = await res.text();
  assert.equal(res.status, status, text.slice(0, 400));
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  assert.match(res.headers.get("x-dreamengine-request-id") ?? "", UUID);
  return JSON.parse(text) as T;
}

interface MixedPart {
  headers: Record<string, string>;
  body: Buffer;
}

/** RFC 2046 multipart parser for the multipart/mixed responses (checks each part's Content-Length). */
function parseMixed(contentType: string, body: Buffer): MixedPart[] {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  assert.ok(m, `no boundary in ${contentType}`);
  const boundary = m[1] ?? m[2]!;
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: MixedPart[] = [];
  let pos = body.indexOf(delimiter);
  assert.equal(pos, 0, "body starts with the first delimiter");
  for (;;) {
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString() === "--") break;
    assert.equal(body.subarray(pos, pos + 2).toString(), "\r\n");
    const headerEnd = body.indexOf("\r\n\r\n", pos);
    const headers: Record<string, string> = {};
    for (const line of body.subarray(pos + 2, headerEnd).toString("latin1").split("\r\n")) {
      const colon = line.indexOf(":");
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const next = body.indexOf(Buffer.concat([Buffer.from("\r\n"), delimiter]), headerEnd + 4);
    assert.ok(next > 0, "part is terminated by a delimiter");
    const part = body.subarray(headerEnd + 4, next);
    if (headers["content-length"] !== undefined) assert.equal(Number(headers["content-length"]), part.length, "part Content-Length");
    parts.push({ headers, body: part });
    pos = next + 2;
  }
  return parts;
}

/** Prometheus text → sample value (sum over label sets matching every given label). */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map<string, string>();
    for (const lm of (m[3] ?? "").matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) have.set(lm[1]!, lm[2]!);
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) {
      sum += Number(m[4]);
      found = true;
    }
  }
  return found ? sum : Number.NaN;
}

/** Plain node:http request, for what fetch cannot do (declare a Content-Length and send no body). */
function rawRequest(url: string, options: http.RequestOptions, body?: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        req.destroy();
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    if (body) req.write(body);
    req.flushHeaders();
  });
}

// ---------------------------------------------------------------------------------------------

describe("e2e: HTTP surface over real HTTP (tiny model, no Stripe keys)", function () {
  this.timeout(300_000);
  let h: Harness;
  let base: string;
  let key: Record<string, string>;
  let png: Buffer;
  let predictCount = 0; // admitted predicts of every kind (status windows, billing events)
  const restOk = { predict: 0, batch: 0 }; // 200s per REST route (dream_calls_total)
  let firstMp4: Buffer;
  const predictUrl = (slug = TINY) => `${base}/v1/models/${slug}/predict`;
  const batchUrl = (slug = TINY) => `${base}/v1/models/${slug}/predict_batch`;
  const balanceMicros = async (k: Record<string, string> = key): Promise<number> => (await json(await fetch(`${base}/v1/billing/balance`, { headers: k }))).balance_micros;

  before(async () => {
    h = await startHarness({}, 100);
    base = h.httpBase;
    key = bearer(h.apiKey);
    png = await pngFrame();
  });
  after(async () => h?.stop());

  describe("health, status, catalog, OpenAPI (no key)", () => {
    it("GET /healthz and /v1/healthz: live and ready once the model is warm, with every check ok", async () => {
      for (const path of ["/healthz", "/v1/healthz"]) {
        const body = await json(await fetch(base + path));
        assert.deepEqual(body, { status: "ok", live: true, ready: true, checks: { ledger: "ok", balances: "ok", [`model:${TINY}`]: "ok" } });
      }
    });

    it("GET /v1/models lists every catalog entry as a snake_case ModelSpec; pricing is $0.0005/frame, $0.0245/rollout", async () => {
      const body = await json<{ models: any[] }>(await fetch(`${base}/v1/models`));
      assert.deepEqual(Object.keys(body), ["models"]);
      assert.deepEqual(body.models.map((m) => m.slug).sort(), [...CATALOG].sort());
      for (const m of body.models) {
        assert.deepEqual(Object.keys(m).sort(), ["active", "arch", "benchmark", "category", "license", "links", "name", "pricing", "provider", "slug", "status", "status_reason", "summary", "upstream_provider"]);
        assert.deepEqual(Object.keys(m.arch).sort(), ["action_dim", "chunk_size", "default_num_steps", "fps", "frames_per_rollout", "model_size", "resolution"]);
        assert.deepEqual(m.pricing, { price_per_frame_usd: 0.0005, price_per_rollout_usd: 0.0245, price_per_million_frames_usd: 500, price_per_frame_micros: 500 });
        assert.deepEqual(Object.keys(m.benchmark).sort(), ["lpips", "p50_ms", "p99_ms", "psnr", "ssim"]);
        assert.equal(m.arch.action_dim, 384);
        assert.equal(m.arch.chunk_size, 12);
        assert.equal(m.arch.fps, 10);
        assert.equal(m.arch.frames_per_rollout, 49);
        assert.equal(m.active, m.status === "live");
      }
      const bySlug = new Map(body.models.map((m) => [m.slug, m]));
      assert.equal(bySlug.get(TINY).status, "live");
      assert.deepEqual(bySlug.get(TINY).arch.resolution, [48, 64]);
      assert.deepEqual(bySlug.get("dreamdojo-2b-gr1").arch.resolution, [480, 640]);
      assert.equal(bySlug.get("dreamdojo-2b-gr1").status, "unavailable");
      assert.match(bySlug.get("dreamdojo-2b-gr1").status_reason, /not installed/);
      assert.equal(bySlug.get("dream-reference-480p").status, "unavailable", "listed but not enabled on this server");
      // benchmark: measured, or null. psnr/ssim/lpips are the committed `npm run quality` figures
      // (gpu/quality.json, docs/RESULTS.md); latency is not measured into the listing.
      const quality = JSON.parse(readFileSync(join(REPO_ROOT, "gpu", "quality.json"), "utf8")).models[TINY].listing;
      const tiny = bySlug.get(TINY).benchmark;
      assert.deepEqual([tiny.p50_ms, tiny.p99_ms], [null, null]);
      assert.deepEqual([tiny.psnr, tiny.ssim, tiny.lpips], [quality.psnr, quality.ssim, quality.lpips]);
      assert.equal(typeof tiny.psnr, "number");
      for (const v of Object.values(bySlug.get("dreamdojo-2b-gr1").benchmark)) assert.equal(v, null, "not measured: null");
    });

    it("GET /v1/models/{slug}: one ModelSpec; unknown slug → 404 MODEL_NOT_FOUND", async () => {
      const spec = await json(await fetch(`${base}/v1/models/${TINY}`));
      assert.equal(spec.slug, TINY);
      assert.equal(spec.pricing.price_per_rollout_usd, 0.0245);
      const e = await expectError(await fetch(`${base}/v1/models/no-such-model`), 404, "MODEL_NOT_FOUND", "not_found");
      assert.equal(e.model, "no-such-model");
    });

    it("GET /v1/openapi.json documents every route and the error body", async () => {
      const doc = await json(await fetch(`${base}/v1/openapi.json`));
      assert.equal(doc.openapi, "3.1.0");
      for (const p of ["/healthz", "/v1/healthz", "/v1/status", "/v1/models", "/v1/models/{slug}", "/v1/models/{model}/predict", "/v1/models/{model}/predict_batch", "/v1/billing/balance", "/v1/billing/topup", "/v1/billing/transactions", "/v1/billing/stripe/webhook"]) {
        assert.ok(doc.paths[p], `${p} missing from the OpenAPI document`);
      }
      assert.ok(doc.paths["/v1/models/{model}/predict"].post.requestBody.content["multipart/form-data"], "multipart predict documented");
    });
  });

  describe("predict", () => {
    it("multipart predict (PNG frame + .npy actions) → an H.264 MP4 of 49 frames with the X-DreamEngine-* headers; $0.0245 debited exactly", async () => {
      const before = await balanceMicros();
      const res = await fetch(predictUrl(), { method: "POST", headers: key, body: form(png, [npy(48)]) });
      assert.equal(res.status, 200, await res.clone().text().catch(() => ""));
      predictCount++;
      assert.equal(res.headers.get("content-type"), "video/mp4");
      const requestId = res.headers.get("x-dreamengine-request-id") ?? "";
      assert.match(requestId, UUID);
      assert.equal(res.headers.get("x-dreamengine-estimated-charge-usd"), "0.0245");
      assert.equal(res.headers.get("x-dreamengine-frames"), "49");
      assert.match(res.headers.get("x-dreamengine-engine-wall-ms") ?? "", /^\d+$/);
      assert.match(res.headers.get("ratelimit-policy") ?? "", /^"per-key";q=200;w=4$/);
      assert.match(res.headers.get("ratelimit") ?? "", /^"per-key";r=\d+;t=\d+$/);
      const mp4 = Buffer.from(await res.arrayBuffer());
      firstMp4 = mp4;
      restOk.predict++;
      assert.equal(Number(res.headers.get("content-length")), mp4.length);
      const video = await decodeMp4(mp4);
      assert.equal(video.frameCount, 49);
      assert.equal(video.frames.length, 49);
      assert.deepEqual([video.height, video.width, video.fps], [H, W, 10]);
      // Frame 0 is the conditioning frame (lossy H.264: close, not equal).
      const start = testFrame(H, W);
      let err = 0;
      for (let i = 0; i < FRAME_BYTES; i++) err += Math.abs(video.frames[0]![i]! - start[i]!);
      assert.ok(err / FRAME_BYTES < 12, `frame 0 should look like the start frame (mean abs error ${err / FRAME_BYTES})`);
      assert.equal(before - (await balanceMicros()), 24_500, "49 frames x 500 micro-USD");
      const tx = (await json(await fetch(`${base}/v1/billing/transactions?limit=1`, { headers: key }))).transactions;
      assert.equal(tx[0].kind, "debit");
      assert.equal(tx[0].request_id, requestId);
      assert.equal(tx[0].amount_micros, -24_500);
    });

    it("a JPEG frame is accepted the same way; a client-chosen X-DreamEngine-Request-Id is honoured", async () => {
      const jpeg = await sharp(Buffer.from(testFrame(H, W)), { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 95 }).toBuffer();
      const fd = new FormData();
      fd.append("frame", new Blob([jpeg], { type: "image/jpeg" }), "frame.jpg");
      fd.append("actions", new Blob([npy(12)]), "a.npy");
      const requestId = randomUUID();
      const res = await fetch(predictUrl(), { method: "POST", headers: { ...key, "x-dreamengine-request-id": requestId }, body: fd });
      assert.equal(res.status, 200);
      predictCount++;
      restOk.predict++;
      assert.equal(res.headers.get("x-dreamengine-request-id"), requestId);
      assert.equal(res.headers.get("x-dreamengine-frames"), "13");
      assert.equal(res.headers.get("x-dreamengine-estimated-charge-usd"), "0.0065");
      assert.equal((await decodeMp4(Buffer.from(await res.arrayBuffer()))).frameCount, 13);
    });

    it("predict_batch K=3 as three `actions` parts → multipart/mixed with three video/mp4 parts in submission order", async () => {
      const before = await balanceMicros();
      const res = await fetch(batchUrl(), { method: "POST", headers: key, body: form(png, [npy(48, 0), npy(48, 1), npy(48, 2)]) });
      assert.equal(res.status, 200);
      predictCount++;
      restOk.batch++;
      assert.match(res.headers.get("content-type") ?? "", /^multipart\/mixed; boundary=/);
      assert.match(res.headers.get("x-dreamengine-request-id") ?? "", UUID);
      assert.equal(res.headers.get("x-dreamengine-frames"), "147");
      assert.equal(res.headers.get("x-dreamengine-estimated-charge-usd"), "0.0735");
      assert.equal(res.headers.get("x-dreamengine-batch-size"), "3");
      assert.match(res.headers.get("x-dreamengine-engine-wall-ms") ?? "", /^\d+$/);
      const parts = parseMixed(res.headers.get("content-type")!, Buffer.from(await res.arrayBuffer()));
      assert.equal(parts.length, 3);
      for (const [i, p] of parts.entries()) {
        assert.equal(p.headers["content-type"], "video/mp4");
        assert.equal(p.headers["x-dreamengine-candidate-index"], String(i));
        assert.equal(p.headers["x-dreamengine-frames"], "49");
        const video = await decodeMp4(p.body);
        assert.equal(video.frameCount, 49);
        assert.deepEqual([video.height, video.width], [H, W]);
      }
      assert.ok(!parts[0]!.body.equals(parts[1]!.body) && !parts[1]!.body.equals(parts[2]!.body), "different actions → different videos");
      assert.equal(before - (await balanceMicros()), 3 * 24_500, "K x (T+1) x price, charged once on the batch");

      // The same batch as ONE (3, 48, 384) .npy: same seed, same inputs → byte-identical videos in the same order.
      const stacked = await fetch(batchUrl(), { method: "POST", headers: key, body: form(png, [stackedNpy(3, 48)]) });
      assert.equal(stacked.status, 200);
      predictCount++;
      restOk.batch++;
      const again = parseMixed(stacked.headers.get("content-type")!, Buffer.from(await stacked.arrayBuffer()));
      assert.deepEqual(again.map((p) => p.headers["x-dreamengine-candidate-index"]), ["0", "1", "2"]);
      for (let i = 0; i < 3; i++) assert.ok(again[i]!.body.equals(parts[i]!.body), `candidate ${i}: (K,T,384) .npy and K parts give the same video`);
    });

    it("JSON predict (proto JSON, base64 bytes): MP4 by default over HTTP; RAW_RGB8 on request with frame 0 = the start frame", async () => {
      const actions = testActions(24, D, 5);
      const request = {
        start_frame: { encoding: "PNG", data: png.toString("base64") },
        actions: { data: Buffer.from(actions.buffer, actions.byteOffset, actions.byteLength).toString("base64"), shape: [24, D] },
        params: { seed: 3 },
      };
      const res = await fetch(predictUrl(), { method: "POST", headers: { ...key, "content-type": "application/json" }, body: JSON.stringify(request) });
      predictCount++;
      restOk.predict++;
      const body = await json(res);
      assert.equal(res.headers.get("x-dreamengine-frames"), "25");
      assert.equal(body.summary.request_id, res.headers.get("x-dreamengine-request-id"));
      assert.deepEqual(body.summary.cost, { micros: 12_500, usd: "0.0125" });
      assert.equal(body.summary.frames, 25);
      assert.equal(body.summary.batch_size, 1);
      assert.equal(body.rollout.encoding, "MP4");
      assert.equal(body.rollout.frame_count, 25);
      assert.equal((await decodeMp4(Buffer.from(body.rollout.video, "base64"))).frameCount, 25);

      // lowerCamel names are accepted too; raw output gives the exact frames.
      const raw = await fetch(predictUrl(), {
        method: "POST",
        headers: { ...key, "content-type": "application/json" },
        body: JSON.stringify({ startFrame: { encoding: "RAW_RGB8", data: Buffer.from(testFrame(H, W)).toString("base64"), height: H, width: W }, actions: request.actions, output: { encoding: "RAW_RGB8" } }),
      });
      predictCount++;
      restOk.predict++;
      const rawBody = await json(raw);
      assert.equal(rawBody.rollout.encoding, "RAW_RGB8");
      assert.equal(rawBody.rollout.frames.length, 25);
      const frames = rawBody.rollout.frames.map((f: string) => Buffer.from(f, "base64"));
      for (const f of frames) assert.equal(f.length, FRAME_BYTES);
      assert.ok(frames[0].equals(Buffer.from(testFrame(H, W))), "frame 0 is the start frame, exactly");

      // JSON in, MP4 out when Accept asks for it.
      const asMp4 = await fetch(predictUrl(), { method: "POST", headers: { ...key, "content-type": "application/json", accept: "video/mp4" }, body: JSON.stringify(request) });
      predictCount++;
      restOk.predict++;
      assert.equal(asMp4.status, 200);
      assert.equal(asMp4.headers.get("content-type"), "video/mp4");
      assert.equal((await decodeMp4(Buffer.from(await asMp4.arrayBuffer()))).frameCount, 25);
    });

    it("float64 actions are accepted and narrowed: the same video as the float32 upload", async () => {
      const res = await fetch(predictUrl(), { method: "POST", headers: key, body: form(png, [npyF64(testActions(48, D, 0), [48, D])]) });
      assert.equal(res.status, 200);
      predictCount++;
      restOk.predict++;
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(firstMp4), "identical bytes: same frame, same actions after narrowing, same seed");
    });

    it("output=png: multipart/mixed with one image/png part per frame, in order", async () => {
      const res = await fetch(predictUrl(), { method: "POST", headers: key, body: form(png, [npy(12)], { output: "png" }) });
      assert.equal(res.status, 200);
      predictCount++;
      restOk.predict++;
      const parts = parseMixed(res.headers.get("content-type")!, Buffer.from(await res.arrayBuffer()));
      assert.equal(parts.length, 13);
      for (const [i, p] of parts.entries()) {
        assert.equal(p.headers["content-type"], "image/png");
        assert.equal(p.headers["x-dreamengine-frame-index"], String(i));
        const { data, info } = await sharp(p.body).raw().toBuffer({ resolveWithObject: true });
        assert.deepEqual([info.height, info.width, info.channels], [H, W, 3]);
        if (i === 0) assert.ok(data.equals(Buffer.from(testFrame(H, W))), "PNG is lossless: frame 0 is the start frame");
      }
    });

    it("stream_predict (annotated, no extra routing): application/x-ndjson, one line per chunk, then the summary", async () => {
      const cands = [0, 1].map((k) => ({ data: Buffer.from(testActions(24, D, k).buffer).toString("base64"), shape: [24, D] }));
      const res = await fetch(`${base}/v1/models/${TINY}/stream_predict`, {
        method: "POST",
        headers: { ...key, "content-type": "application/json" },
        body: JSON.stringify({ start_frame: { encoding: "PNG", data: png.toString("base64") }, candidates: cands, output: { encoding: "RAW_RGB8" } }),
      });
      assert.equal(res.status, 200);
      predictCount++;
      assert.match(res.headers.get("content-type") ?? "", /^application\/x-ndjson/);
      const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
      const chunks = lines.filter((l) => l.chunk).map((l) => l.chunk);
      assert.deepEqual(chunks.map((c) => c.chunk_index), [0, 1]);
      const frames = [0, 0];
      for (const c of chunks) for (const cand of c.candidates) frames[cand.candidate_index] += cand.frames.length;
      assert.deepEqual(frames, [25, 25]);
      const last = lines[lines.length - 1];
      assert.deepEqual(last.summary.frames_per_candidate, [25, 25]);
      assert.deepEqual(last.summary.summary.cost, { micros: 25_000, usd: "0.025" });
      // The cancel route of a finished (or unknown) request is a 404 in the documented error shape.
      const e = await expectError(await fetch(`${base}/v1/requests/${last.summary.summary.request_id}/cancel`, { method: "POST", headers: { ...key, "content-type": "application/json" }, body: "{}" }), 404, "NOT_FOUND", "not_found");
      assert.match(e.message, /request/);
    });
  });

  describe("errors", () => {
    it("400 INVALID_ARGUMENT names the field and the expected vs given shape; nothing is charged", async () => {
      const before = await balanceMicros();
      const post = (body: FormData | string, url = predictUrl()) =>
        fetch(url, { method: "POST", headers: typeof body === "string" ? { ...key, "content-type": "application/json" } : key, body });

      let e = await expectError(await post(form(png, [npy(48, 0, 100)])), 400, "INVALID_ARGUMENT", "invalid_argument");
      // A single Predict names its field `actions` (a batch names candidates[i]).
      assert.match(e.message, /^actions: model expects 384 action dims/);
      assert.match(e.message, /\(48, 100\)/);

      e = await expectError(await post(form(await pngFrame(W, H), [npy(48)])), 400, "INVALID_ARGUMENT", "invalid_argument");
      assert.match(e.message, /start_frame/);
      assert.match(e.message, /48x64/);

      e = await expectError(await post(form(undefined, [npy(48)])), 400, "INVALID_ARGUMENT", "invalid_argument");
      assert.equal(e.field, "frame");

      e = await expectError(await post(form(png, [])), 400, "INVALID_ARGUMENT", "invalid_argument");
      assert.equal(e.field, "actions");

      e = await expectError(await post(form(png, [npy(48)], { temperature: "2" })), 400, "INVALID_ARGUMENT", "invalid_argument");
      assert.equal(e.field, "temperature");

      e = await expectError(await post(form(png, [npy(48), npy(48, 1)])), 400, "INVALID_ARGUMENT", "invalid_argument");
      assert.match(e.message, /predict_batch/);

      // .npy parser: Fortran order, an unsupported dtype, a length that does not match the header.
      const fortran = Buffer.from(npy(12).toString("latin1").replace("'fortran_order': False", "'fortran_order': True "), "latin1");
      e = await expectError(await post(form(png, [fortran])), 400, "INVALID_ARGUMENT", "invalid_argument");
      assert.match(e.message, /fortran/i);
      const int32 = Buffer.from(npy(12).toString("latin1").replace("'<f4'", "'<i4'"), "latin1");
      e = await expectError(await post(form(png, [int32])), 400, "INVALID_ARGUMENT", "invalid_argument");
      assert.match(e.message, /<i4|dtype/);
      e = await expectError(await post(form(png, [npy(12).subarray(0, 1000)])), 400, "INVALID_ARGUMENT", "invalid_argument");
      assert.match(e.message, /actions/);

      // predict_batch: a (K, T, 384) file with the wrong last dimension names candidates[i].
      e = await expectError(await post(form(png, [encodeNpy(new Float32Array(2 * 12 * 10), [2, 12, 10])]), batchUrl()), 400, "INVALID_ARGUMENT", "invalid_argument");
      assert.match(e.message, /384/);

      // JSON: unknown field and bad shape.
      e = await expectError(await post(JSON.stringify({ start_frame: { data: png.toString("base64") }, actions: { data: "", shape: [0, D] }, bogus: 1 })), 400, "INVALID_ARGUMENT", "invalid_argument");
      assert.match(e.message, /bogus/);
      e = await expectError(await post("{not json"), 400, "INVALID_ARGUMENT", "invalid_argument");
      assert.equal(e.field, "body");
      e = await expectError(await fetch(`${base}/v1/billing/transactions?limit=501`, { headers: key }), 400, "INVALID_ARGUMENT", "invalid_argument");
      assert.match(e.message, /limit/);
      e = await expectError(await fetch(`${base}/v1/billing/balance?verbose=1`, { headers: key }), 400, "INVALID_ARGUMENT", "invalid_argument");
      assert.match(e.message, /verbose/);

      assert.equal(await balanceMicros(), before, "no 400 charged anything");
    });

    it("401 UNAUTHENTICATED without a key and with an unknown key, on every keyed endpoint", async () => {
      for (const headers of [{}, bearer(unknownKey()), { authorization: "Basic abc" }]) {
        await expectError(await fetch(`${base}/v1/billing/balance`, { headers }), 401, "UNAUTHENTICATED", "unauthenticated");
        await expectError(await fetch(`${base}/v1/billing/transactions?limit=3`, { headers }), 401, "UNAUTHENTICATED", "unauthenticated");
        await expectError(await fetch(`${base}/v1/billing/topup`, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: '{"amount_usd": 25}' }), 401, "UNAUTHENTICATED", "unauthenticated");
        await expectError(await fetch(predictUrl(), { method: "POST", headers, body: form(png, [npy(12)]) }), 401, "UNAUTHENTICATED", "unauthenticated");
        await expectError(await fetch(batchUrl(), { method: "POST", headers, body: form(png, [npy(12)]) }), 401, "UNAUTHENTICATED", "unauthenticated");
      }
    });

    it("402 INSUFFICIENT_CREDITS before any GPU work: balance_cents, requested_cents (rounded up) and micros; the balance is untouched", async () => {
      const poor = await h.newKey(0.01);
      const k = bearer(poor.rawKey);
      let e = await expectError(await fetch(predictUrl(), { method: "POST", headers: k, body: form(png, [npy(48)]) }), 402, "INSUFFICIENT_CREDITS", "failed_precondition");
      assert.equal(e.balance_cents, 1);
      assert.equal(e.requested_cents, 3, "$0.0245 is 2.45 cents, rounded UP");
      assert.equal(e.balance_micros, 10_000);
      assert.equal(e.requested_micros, 24_500);
      e = await expectError(await fetch(batchUrl(), { method: "POST", headers: k, body: form(png, [stackedNpy(3, 48)]) }), 402, "INSUFFICIENT_CREDITS", "failed_precondition");
      assert.equal(e.requested_cents, 8, "$0.0735 → 8 cents");
      assert.equal(e.requested_micros, 73_500);
      const balance = await json(await fetch(`${base}/v1/billing/balance`, { headers: k }));
      assert.deepEqual(balance, { customer_id: poor.customerId, balance_micros: 10_000, balance_mils: 100, balance_cents: 1, balance_usd: 0.01, held_micros: 0 });
      const tx = (await json(await fetch(`${base}/v1/billing/transactions?limit=10`, { headers: k }))).transactions;
      assert.deepEqual(tx.map((t: any) => t.kind), ["grant"], "no debit or hold was written");
    });

    it("403 PERMISSION_DENIED for a revoked key", async () => {
      const victim = await h.newKey(1);
      const k = bearer(victim.rawKey);
      await json(await fetch(`${base}/v1/billing/balance`, { headers: k }));
      const keys = await h.app.billing.listKeys(victim.customerId);
      assert.equal(keys.length, 1);
      await h.app.billing.revokeKey(keys[0]!.keyId);
      await expectError(await fetch(`${base}/v1/billing/balance`, { headers: k }), 403, "PERMISSION_DENIED", "permission_denied");
      await expectError(await fetch(predictUrl(), { method: "POST", headers: k, body: form(png, [npy(12)]) }), 403, "PERMISSION_DENIED", "permission_denied");
    });

    it("404: unknown model on predict/predict_batch is MODEL_NOT_FOUND; an unknown route is NOT_FOUND; 405 carries Allow", async () => {
      let e = await expectError(await fetch(predictUrl("no-such-model"), { method: "POST", headers: key, body: form(png, [npy(12)]) }), 404, "MODEL_NOT_FOUND", "not_found");
      assert.equal(e.model, "no-such-model");
      await expectError(await fetch(batchUrl("no-such-model"), { method: "POST", headers: key, body: form(png, [npy(12)]) }), 404, "MODEL_NOT_FOUND", "not_found");
      e = await expectError(await fetch(`${base}/v1/no/such/route`), 404, "NOT_FOUND", "not_found");
      assert.match(e.message, /no route/);
      await expectError(await fetch(`${base}/v2/models`, { headers: key }), 404, "NOT_FOUND", "not_found");
      const res = await fetch(`${base}/v1/models`, { method: "DELETE" });
      assert.equal(res.headers.get("allow"), "GET, HEAD, OPTIONS");
      await expectError(res, 405, "METHOD_NOT_ALLOWED", "unimplemented");
    });

    it("413 PAYLOAD_TOO_LARGE for a body over 64 MiB, refused from its Content-Length before it is read", async () => {
      const before = await balanceMicros();
      const limit = 64 * 1024 * 1024;
      // Declares 64 MiB + 1 and sends only a few bytes: the answer cannot depend on reading the body.
      const res = await rawRequest(predictUrl(), { method: "POST", headers: { ...key, "content-type": "multipart/form-data; boundary=xyz", "content-length": String(limit + 1) } }, Buffer.from("--xyz\r\n"));
      assert.equal(res.status, 413);
      const requestId = res.headers["x-dreamengine-request-id"];
      const body = JSON.parse(res.body.toString());
      assert.deepEqual({ ...body.error, message: undefined }, { code: "resource_exhausted", reason: "PAYLOAD_TOO_LARGE", message: undefined, request_id: requestId, limit_bytes: limit });
      assert.equal(res.headers.connection, "close", "the unread body's connection is not reused");
      // The same through fetch with a real body of 64 MiB + 1 bytes (on the JSON-only topup route).
      const big = await fetch(`${base}/v1/billing/topup`, { method: "POST", headers: { ...key, "content-type": "application/json" }, body: new Uint8Array(limit + 1) });
      const e = await expectError(big, 413, "PAYLOAD_TOO_LARGE", "resource_exhausted");
      assert.equal(e.limit_bytes, limit);
      assert.equal(await balanceMicros(), before);
    });

    it("415 UNSUPPORTED_MEDIA_TYPE for a content type the endpoint does not accept", async () => {
      let e = await expectError(await fetch(predictUrl(), { method: "POST", headers: { ...key, "content-type": "text/plain" }, body: "frame" }), 415, "UNSUPPORTED_MEDIA_TYPE", "invalid_argument");
      assert.equal(e.given, "text/plain");
      assert.match(e.message, /multipart\/form-data/);
      e = await expectError(await fetch(`${base}/v1/billing/topup`, { method: "POST", headers: key, body: form(png, []) }), 415, "UNSUPPORTED_MEDIA_TYPE", "invalid_argument");
      assert.equal(e.given, "multipart/form-data");
    });

    it("429 RATE_LIMITED with Retry-After and the RateLimit headers (a key overridden to 1 request/s, burst 1)", async () => {
      const limited = await h.newKey(1);
      const [info] = await h.app.billing.listKeys(limited.customerId);
      await h.app.billing.setRateLimit(info!.keyId, { ratePerS: 1, burst: 1 });
      const k = bearer(limited.rawKey);
      // Two calls 1 s apart would both pass; five back-to-back calls cannot all be.
      let res: Response | undefined;
      for (let i = 0; i < 5; i++) {
        res = await fetch(`${base}/v1/billing/balance`, { headers: k });
        if (res.status === 429) break;
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("ratelimit-policy"), '"per-key";q=1;w=1');
        await res.arrayBuffer();
      }
      assert.equal(res!.headers.get("retry-after"), "1");
      assert.equal(res!.headers.get("ratelimit-policy"), '"per-key";q=1;w=1');
      assert.equal(res!.headers.get("ratelimit"), '"per-key";r=0;t=1');
      const e = await expectError(res!, 429, "RATE_LIMITED", "resource_exhausted");
      assert.equal(e.rate_per_s, 1);
      assert.equal(e.burst, 1);
    });

    it("503 MODEL_UNAVAILABLE for a model that is listed but not installed / not enabled; nothing charged", async () => {
      const before = await balanceMicros();
      let e = await expectError(await fetch(predictUrl("dreamdojo-2b-gr1"), { method: "POST", headers: key, body: form(png, [npy(48)]) }), 503, "MODEL_UNAVAILABLE", "unavailable");
      assert.equal(e.model, "dreamdojo-2b-gr1");
      assert.match(e.message, /not installed/);
      e = await expectError(await fetch(batchUrl("dream-reference-480p"), { method: "POST", headers: key, body: form(png, [npy(48)]) }), 503, "MODEL_UNAVAILABLE", "unavailable");
      assert.match(e.message, /not enabled/);
      assert.equal(await balanceMicros(), before);
    });

    it("504 DEADLINE_EXCEEDED bills only the frames generated and refunds the rest on the same request id", async () => {
      const before = await balanceMicros();
      const res = await fetch(predictUrl(), { method: "POST", headers: key, body: form(png, [npy(240)], { num_steps: "64", deadline_ms: "1" }) });
      predictCount++;
      const e = await expectError(res, 504, "DEADLINE_EXCEEDED", "deadline_exceeded");
      const charged = e.charged_micros as number;
      assert.ok(Number.isInteger(charged) && charged >= 0 && charged < 241 * 500, `charged ${charged}`);
      assert.equal(charged, (e.frames_generated as number) * 500);
      assert.equal(before - (await balanceMicros()), charged);
      const tx = (await json(await fetch(`${base}/v1/billing/transactions?limit=2`, { headers: key }))).transactions;
      assert.deepEqual(tx.map((t: any) => [t.kind, t.request_id, t.amount_micros]), [
        ["refund", e.request_id, 241 * 500 - charged],
        ["debit", e.request_id, -241 * 500],
      ]);
    });
  });

  describe("billing without Stripe keys", () => {
    it("GET /v1/billing/balance: customer_id and the micros / mils / cents / usd views of one amount", async () => {
      const b = await json(await fetch(`${base}/v1/billing/balance`, { headers: key }));
      assert.deepEqual(Object.keys(b).sort(), ["balance_cents", "balance_micros", "balance_mils", "balance_usd", "customer_id", "held_micros"]);
      assert.equal(b.customer_id, h.customerId);
      assert.equal(b.balance_mils, Math.floor(b.balance_micros / 100));
      assert.equal(b.balance_cents, Math.round(b.balance_micros / 10_000));
      assert.equal(b.balance_usd, b.balance_micros / 1e6);
      assert.equal(b.held_micros, 0);
    });

    it("POST /v1/billing/topup → 412 TOPUPS_NOT_CONFIGURED (after the amount check); the webhook answers 503 so Stripe redelivers", async () => {
      const e = await expectError(await fetch(`${base}/v1/billing/topup`, { method: "POST", headers: { ...key, "content-type": "application/json" }, body: JSON.stringify({ amount_usd: 25 }) }), 412, "TOPUPS_NOT_CONFIGURED", "failed_precondition");
      assert.match(e.message, /STRIPE_SECRET_KEY/);
      await expectError(await fetch(`${base}/v1/billing/topup`, { method: "POST", headers: { ...key, "content-type": "application/json" }, body: JSON.stringify({ amount_usd: 4.99 }) }), 400, "INVALID_ARGUMENT", "invalid_argument");
      const hook = await expectError(await fetch(`${base}/v1/billing/stripe/webhook`, { method: "POST", headers: { "content-type": "application/json", "stripe-signature": "t=1,v1=00" }, body: "{}" }), 503, "TOPUPS_NOT_CONFIGURED", "failed_precondition");
      assert.match(hook.message, /not configured/);
    });
  });

  describe("status and metrics reflect the traffic above", () => {
    it("GET /v1/status: 1m/1h/24h windows overall and per model, queue depth and runner state", async () => {
      const s = await json(await fetch(`${base}/v1/status`));
      assert.equal(s.status, "ok");
      assert.equal(s.version, "0.1.0");
      assert.ok(Number.isInteger(s.uptime_s) && s.uptime_s >= 0);
      const windows = (ws: any[]) => ws.map((w) => w.window);
      assert.deepEqual(windows(s.overall), ["1m", "1h", "24h"]);
      assert.deepEqual(s.models.map((m: any) => m.slug).sort(), [...CATALOG].sort());
      const tiny = s.models.find((m: any) => m.slug === TINY);
      assert.equal(tiny.status, "live");
      assert.ok(["idle", "busy"].includes(tiny.runner_state), tiny.runner_state);
      assert.equal(tiny.queue_depth, 0);
      assert.equal(tiny.runner_restarts, 0);
      assert.deepEqual(windows(tiny.windows), ["1m", "1h", "24h"]);
      for (const w of tiny.windows) {
        assert.equal(w.requests, predictCount, `${w.window}: every admitted predict is counted`);
        // Exactly one predict above ended unsuccessfully (the 504 deadline one): it counts as an error.
        assert.equal(w.errors, 1);
        assert.equal(w.error_rate, 1 / predictCount);
        assert.ok(w.p50_ms > 0 && w.p99_ms >= w.p50_ms, JSON.stringify(w));
        assert.ok(w.mean_batch_size >= 1);
      }
      assert.deepEqual(s.overall.map((w: any) => w.requests), [predictCount, predictCount, predictCount]);
      const gr1 = s.models.find((m: any) => m.slug === "dreamdojo-2b-gr1");
      assert.deepEqual([gr1.status, gr1.runner_state, gr1.queue_depth], ["unavailable", "absent", 0]);
      assert.deepEqual(gr1.windows.map((w: any) => [w.requests, w.p50_ms]), [[0, null], [0, null], [0, null]]);
    });

    it("GET /metrics: Prometheus text with calls by route and code, billing outcomes, rate-limit rejections, queue gauges", async () => {
      const res = await fetch(`${base}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      const calls = (method: string, code: number) => metric(text, "dream_calls_total", { transport: "http", method, code: String(code) });
      assert.equal(calls("/v1/models/{model}/predict", 200), restOk.predict);
      assert.equal(calls("/v1/models/{model}/predict_batch", 200), restOk.batch);
      assert.equal(calls("/v1/models/{model}/stream_predict", 200), 1);
      assert.ok(calls("/v1/models/{model}/predict", 402) >= 1);
      assert.ok(calls("/v1/models/{model}/predict", 504) >= 1);
      assert.ok(calls("/v1/billing/balance", 429) >= 1);
      assert.ok(calls("unmatched", 404) >= 1, "unknown routes share one label (bounded cardinality)");
      assert.equal(metric(text, "dream_billing_events_total", { outcome: "reserved" }), predictCount);
      assert.equal(metric(text, "dream_billing_events_total", { outcome: "posted" }), predictCount);
      assert.equal(metric(text, "dream_billing_events_total", { outcome: "insufficient_credits" }), 2);
      assert.ok(metric(text, "dream_rate_limited_total", { scope: "key" }) >= 1);
      assert.equal(metric(text, "dream_queue_requests", { model: TINY }), 0);
      assert.equal(metric(text, "dream_request_candidates_count", { model: TINY }), predictCount);
      assert.ok(metric(text, "dream_call_seconds_count", { transport: "http" }) > 0);
      assert.ok(metric(text, "dream_predict_seconds_count", { model: TINY }) === predictCount);
    });
  });

  describe("draining (last: it stops the tiny model's scheduler)", () => {
    it("503 UNAVAILABLE with Retry-After once the model drains; the hold is voided (a refund entry, nothing charged)", async () => {
      const before = await balanceMicros();
      await h.app.registry.get(TINY).engine!.drain();
      const res = await fetch(predictUrl(), { method: "POST", headers: key, body: form(png, [npy(48)]) });
      assert.equal(res.headers.get("retry-after"), "1");
      const e = await expectError(res, 503, "UNAVAILABLE", "unavailable");
      assert.equal(e.draining, true);
      assert.equal(await balanceMicros(), before);
      const tx = (await json(await fetch(`${base}/v1/billing/transactions?limit=2`, { headers: key }))).transactions;
      assert.deepEqual(tx.map((t: any) => [t.kind, t.request_id, t.amount_micros]), [
        ["refund", e.request_id, 24_500],
        ["debit", e.request_id, -24_500],
      ]);
      // A failed (voided) request counts in the status windows as an error, as did the earlier 504.
      const tiny = (await json(await fetch(`${base}/v1/status`))).models.find((m: any) => m.slug === TINY);
      for (const w of tiny.windows) assert.deepEqual([w.requests, w.errors, w.error_rate], [predictCount + 1, 2, 2 / (predictCount + 1)]);
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe("e2e: Stripe top-ups over real HTTP (fake Stripe API, signed webhooks)", function () {
  this.timeout(300_000);
  const SECRET = "sk_test_e2eSecretKey0123456789";
  const WEBHOOK_SECRET = "whsec_e2eWebhookSecret0123456789";
  let fake: FakeStripeServer;
  let h: Harness;
  let key: Record<string, string>;
  let base: string;

  before(async () => {
    fake = await startFakeStripeServer();
    h = await startHarness({ STRIPE_SECRET_KEY: SECRET, STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_BASE: `http://127.0.0.1:${fake.port}` }, 1);
    key = bearer(h.apiKey);
    base = h.httpBase;
  });
  after(async () => {
    await h?.stop();
    await fake?.close();
  });

  const topup = (amount: unknown, k = key) => fetch(`${base}/v1/billing/topup`, { method: "POST", headers: { ...k, "content-type": "application/json" }, body: JSON.stringify({ amount_usd: amount }) });
  const webhook = (body: Buffer | string, signature?: string) =>
    fetch(`${base}/v1/billing/stripe/webhook`, { method: "POST", headers: { "content-type": "application/json", ...(signature ? { "stripe-signature": signature } : {}) }, body });
  const balance = async () => (await json(await fetch(`${base}/v1/billing/balance`, { headers: key }))).balance_micros as number;

  it("POST /v1/billing/topup → 200 with a Checkout session; outside $5…$10,000 → 400 naming amount_usd", async () => {
    const body = await json(await topup(25));
    assert.deepEqual(Object.keys(body).sort(), ["amount_cents", "amount_usd", "customer_id", "session_id", "url"]);
    assert.match(body.session_id, /^cs_test_/);
    assert.equal(body.url, `https://checkout.stripe.com/c/pay/${body.session_id}`);
    assert.equal(body.amount_cents, 2500);
    assert.equal(body.amount_usd, 25);
    assert.equal(body.customer_id, h.customerId);
    const created = fake.requests.filter((r) => r.method === "POST" && r.path === "/v1/checkout/sessions");
    assert.equal(created.length, 1);
    assert.equal(created[0]!.headers.authorization, `Bearer ${SECRET}`);
    for (const bad of [4.99, 10_000.01, -5, 0]) {
      const e = await expectError(await topup(bad), 400, "INVALID_ARGUMENT", "invalid_argument");
      assert.equal(e.field, "amount_usd");
    }
    assert.equal(fake.requests.filter((r) => r.path === "/v1/checkout/sessions").length, 1, "no session for a refused amount");
  });

  it("a signed checkout.session.completed credits once; a redelivery does not; a tampered signature → 400 and no credit", async () => {
    const session = (await json(await topup(25))).session_id as string;
    const paid = fake.completeSession(session);
    const before = await balance();

    const payload = checkoutEventPayload("checkout.session.completed", paid);
    const first = signed(payload, WEBHOOK_SECRET);
    let res = await webhook(first.body, first.header);
    assert.deepEqual(await json(res), { received: true, credited: true, duplicate: false, session_id: session });
    assert.equal((await balance()) - before, 25_000_000, "$25 in micro-USD");

    // Stripe redelivers the same event (fresh signature), and may send a second event for the same session.
    res = await webhook(payload, signed(payload, WEBHOOK_SECRET).header);
    assert.equal((await json(res)).credited, false);
    const other = checkoutEventPayload("checkout.session.completed", paid, { id: randomEventId() });
    res = await webhook(other, signed(other, WEBHOOK_SECRET).header);
    assert.deepEqual(await json(res), { received: true, credited: false, duplicate: true, session_id: session });
    assert.equal((await balance()) - before, 25_000_000, "credited exactly once");

    // Tampered: body changed after signing; wrong secret; no signature at all.
    const second = fake.completeSession((await json(await topup(50))).session_id);
    const honest = checkoutEventPayload("checkout.session.completed", second);
    const sig = signed(honest, WEBHOOK_SECRET).header;
    const e1 = await expectError(await webhook(honest.replace('"amount_total":5000', '"amount_total":500000'), sig), 400, "INVALID_ARGUMENT", "invalid_argument");
    assert.match(e1.message, /stripe-signature/);
    await expectError(await webhook(honest, signed(honest, "whsec_wrong").header), 400, "INVALID_ARGUMENT", "invalid_argument");
    await expectError(await webhook(honest), 400, "INVALID_ARGUMENT", "invalid_argument");
    assert.equal((await balance()) - before, 25_000_000, "no tampered delivery credited anything");
  });

  it("GET /v1/billing/transactions?limit=N: newest first, with topup, debit and refund kinds and running balances", async () => {
    const png = await pngFrame();
    const ok = await fetch(`${base}/v1/models/${TINY}/predict`, { method: "POST", headers: key, body: form(png, [npy(48)]) });
    assert.equal(ok.status, 200);
    const debitId = ok.headers.get("x-dreamengine-request-id");
    await ok.arrayBuffer();
    const late = await expectError(await fetch(`${base}/v1/models/${TINY}/predict`, { method: "POST", headers: key, body: form(png, [npy(240)], { num_steps: "64", deadline_ms: "1" }) }), 504, "DEADLINE_EXCEEDED", "deadline_exceeded");

    const all = (await json(await fetch(`${base}/v1/billing/transactions?limit=50`, { headers: key }))).transactions as any[];
    for (const t of all) {
      assert.deepEqual(Object.keys(t).sort(), ["amount_cents", "amount_micros", "balance_micros", "created_at", "description", "id", "kind", "request_id"]);
      assert.ok(!Number.isNaN(Date.parse(t.created_at)), t.created_at);
      assert.equal(t.amount_cents, Math.sign(t.amount_micros) * Math.round(Math.abs(t.amount_micros) / 10_000));
    }
    const kinds = all.map((t) => t.kind);
    assert.deepEqual(kinds, ["refund", "debit", "debit", "topup", "grant"], JSON.stringify(all));
    assert.deepEqual([all[0].request_id, all[1].request_id, all[2].request_id], [late.request_id, late.request_id, debitId]);
    assert.equal(all[3].amount_micros, 25_000_000);
    assert.equal(all[4].amount_micros, 1_000_000);
    // Newest first, and each running balance is the previous one plus the entry's amount.
    for (let i = 0; i + 1 < all.length; i++) {
      assert.ok(Date.parse(all[i].created_at) >= Date.parse(all[i + 1].created_at));
      assert.equal(all[i].balance_micros, all[i + 1].balance_micros + all[i].amount_micros);
    }
    assert.equal(all[0].balance_micros, await balance());
    const two = (await json(await fetch(`${base}/v1/billing/transactions?limit=2`, { headers: key }))).transactions as any[];
    assert.deepEqual(two, all.slice(0, 2));
  });
});
