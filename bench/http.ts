// `npm run bench:http`: the same K=8, T=48 PredictBatch on the tiny model (48x64) over gRPC and over the
// REST shim, side by side against one real server (its own process, temp data dir, starter key).
// `npm run bench:http -- --raw480` is the raw comparison at 480x640 (361 MB per response): grpc_raw vs
// rest_multipart_raw (fetch) and rest_multipart_raw_node (node:http, body read into one buffer of the
// announced Content-Length), 5 reps by default. `--model <slug>`, `--transports a,b` pick by hand.
//
// Transports (what each one returns):
//   grpc_raw            gRPC PredictBatch, RAW_RGB8 output (gRPC's default): 8 x 49 raw frames in protobuf
//   rest_json_raw       POST …/predict_batch application/json, output RAW_RGB8: the same frames, base64 in JSON
//   rest_multipart_raw  POST …/predict_batch multipart/form-data (PNG frame + one (8,48,384) .npy), output=raw:
//                       multipart/mixed, one raw part per frame (392 parts), read with fetch (undici)
//   rest_multipart_raw_node  the same request and response, read with node:http into one preallocated
//                       buffer (what a client that trusts Content-Length does; fetch keeps every chunk
//                       and concatenates them at the end)
//   rest_multipart_mp4  the same upload with the HTTP default output=mp4: multipart/mixed, 8 H.264 videos
//   rest_json_mp4       JSON request with the HTTP default output (MP4): 8 videos, base64 in JSON
// The *_raw rows are the like-for-like comparison with gRPC (same output bytes); the *_mp4 rows add
// H.264 encoding on the server and are shown for what the documented HTTP defaults cost.
//
// Each sample is wall time from sending the request to having the response decoded into frames or
// videos in this process (protobuf decode / JSON.parse + base64 / multipart split), checked for shape.
// Reps are interleaved (every rep runs every transport, in a rotating order) so drift on a shared
// machine hits all of them. Prints one JSON document and a one-line summary.
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";
import { DreamClient, packActions } from "../clients/typescript/src";
import { encodeNpy } from "../src/codec";
import { loadCatalog } from "../src/config/load-catalog";
import { FrameEncoding } from "../src/gen/dream/v1/dream";
import { ensureReferenceModels } from "../gpu/build-reference-models";
import { testActions, testFrame } from "../test/e2e/harness";
import { ROOT, argInt, argString, percentile, round, startServer } from "./lib";
import { progress } from "./progress";

const RAW480 = process.argv.includes("--raw480");
const MODEL = argString("model", RAW480 ? "dream-reference-480p" : "dream-reference-tiny");
const ONLY = argString("transports", RAW480 ? "grpc_raw,rest_multipart_raw,rest_multipart_raw_node" : "");
const K = 8;
const T = 48;

interface Transport {
  name: string;
  /** Runs one request to a decoded, shape-checked result: the response body size, the engine's own wall time. */
  run(): Promise<{ bytes: number; engineMs: number }>;
}

function fail(what: string): never {
  throw new Error(`bench:http: ${what}`);
}

/** multipart/mixed → parts (headers lower-cased). Minimal, for well-formed server output. */
function splitMixed(contentType: string, body: Buffer): { headers: Record<string, string>; body: Buffer }[] {
  const boundary = /boundary=([^;\s]+)/.exec(contentType)?.[1] ?? fail(`no boundary in ${contentType}`);
  const delimiter = Buffer.from(`--${boundary}`);
  const next = Buffer.from(`\r\n--${boundary}`);
  const parts: { headers: Record<string, string>; body: Buffer }[] = [];
  let pos = body.indexOf(delimiter) + delimiter.length;
  while (body[pos] !== 0x2d /* "-": closing delimiter */) {
    const headerEnd = body.indexOf("\r\n\r\n", pos);
    const headers: Record<string, string> = {};
    for (const line of body.subarray(pos + 2, headerEnd).toString("latin1").split("\r\n")) {
      const c = line.indexOf(":");
      headers[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim();
    }
    const length = Number(headers["content-length"]);
    const start = headerEnd + 4;
    const end = Number.isInteger(length) ? start + length : body.indexOf(next, start);
    parts.push({ headers, body: body.subarray(start, end) });
    pos = end + next.length;
  }
  return parts;
}

async function main(): Promise<void> {
  const reps = argInt("reps", RAW480 ? 5 : 20);
  const catalog = loadCatalog(path.join(ROOT, "gpu", "catalog.json"));
  const entry = catalog.models.find((e) => e.slug === MODEL) ?? fail(`${MODEL} not in the catalog`);
  const [h, w] = entry.resolution;
  const frameBytes = h * w * 3;
  await ensureReferenceModels(path.join(ROOT, "gpu", "models"), { models: [entry] });
  const server = await startServer({ DREAM_MODELS: MODEL });
  const grpc = new DreamClient({ address: server.grpcAddress, apiKey: server.apiKey, warmReceive: true }); // as measured before warm receive became opt-in
  const auth = { authorization: `Bearer ${server.apiKey}` };

  const frame = testFrame(h, w);
  const png = await sharp(Buffer.from(frame), { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
  const perLane = Array.from({ length: K }, (_, i) => testActions(T, entry.actionDim, i));
  const stacked = new Float32Array(K * T * entry.actionDim);
  perLane.forEach((a, i) => stacked.set(a, i * T * entry.actionDim));
  const npy = encodeNpy(stacked, [K, T, entry.actionDim]);
  const params = { numSteps: 0, seed: 1 };
  const b64 = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64");
  const jsonBody = (encoding: string) =>
    JSON.stringify({
      start_frame: { encoding: "RAW_RGB8", data: Buffer.from(frame).toString("base64"), height: h, width: w },
      candidates: perLane.map((a) => ({ data: b64(a), shape: [T, entry.actionDim] })),
      params: { seed: 1 },
      ...(encoding ? { output: { encoding } } : {}),
    });
  const batchUrl = `${server.httpBase}/v1/models/${MODEL}/predict_batch`;
  const form = (output: string) => {
    const fd = new FormData();
    fd.append("frame", new Blob([png], { type: "image/png" }), "frame.png");
    fd.append("actions", new Blob([npy], { type: "application/x-npy" }), "actions.npy");
    fd.append("seed", "1");
    fd.append("output", output);
    return fd;
  };
  /** POST the form with node:http; the body lands in one buffer of the announced length. */
  const nodeHttpPost = async (fd: FormData): Promise<{ contentType: string; body: Buffer; engineMs: number }> => {
    const encoded = new Response(fd);
    const payload = Buffer.from(await encoded.arrayBuffer());
    const url = new URL(batchUrl);
    return new Promise((resolve, reject) => {
      const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: "POST", agent, headers: { ...auth, "content-type": encoded.headers.get("content-type")!, "content-length": String(payload.length) } }, (res) => {
        const length = Number(res.headers["content-length"]);
        if (res.statusCode !== 200 || !Number.isSafeInteger(length)) {
          res.resume();
          return reject(new Error(`bench:http: HTTP ${res.statusCode}, content-length ${res.headers["content-length"]}`));
        }
        const body = Buffer.allocUnsafe(length);
        let at = 0;
        res.on("data", (chunk: Buffer) => {
          chunk.copy(body, at);
          at += chunk.length;
        });
        res.on("end", () => (at === length ? resolve({ contentType: String(res.headers["content-type"]), body, engineMs: Number(res.headers["x-dreamengine-engine-wall-ms"]) }) : reject(new Error(`bench:http: ${at} of ${length} bytes`))));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(payload);
    });
  };
  const agent = new http.Agent({ keepAlive: true });
  const checkedFetch = async (init: RequestInit): Promise<Response> => {
    const res = await fetch(batchUrl, { method: "POST", ...init, headers: { ...auth, ...(init.headers as Record<string, string>) } });
    if (res.status !== 200) fail(`HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
    return res;
  };

  const transports: Transport[] = [
    {
      name: "grpc_raw",
      async run() {
        const { response } = await grpc.predictBatch({ model: MODEL, startFrame: { encoding: FrameEncoding.RAW_RGB8, data: frame, height: h, width: w }, candidates: perLane.map((a) => packActions(a, T, entry.actionDim)), params });
        if (response.rollouts.length !== K || response.rollouts.some((r) => r.frames.length !== T + 1 || r.frames[0]!.byteLength !== frameBytes)) fail("grpc: wrong shape");
        return { bytes: response.rollouts.reduce((n, r) => n + r.frames.reduce((m, f) => m + f.byteLength, 0), 0), engineMs: response.summary?.engineWallMs ?? NaN };
      },
    },
    {
      name: "rest_json_raw",
      async run() {
        const res = await checkedFetch({ headers: { "content-type": "application/json" }, body: jsonBody("RAW_RGB8") });
        const text = await res.text();
        const body = JSON.parse(text) as { rollouts: { frames: string[] }[]; summary: { engine_wall_ms: number } };
        const frames = body.rollouts.map((r) => r.frames.map((f) => Buffer.from(f, "base64")));
        if (frames.length !== K || frames.some((r) => r.length !== T + 1 || r[0]!.length !== frameBytes)) fail("rest_json_raw: wrong shape");
        return { bytes: Buffer.byteLength(text), engineMs: body.summary.engine_wall_ms };
      },
    },
    {
      name: "rest_multipart_raw",
      async run() {
        const res = await checkedFetch({ body: form("raw") });
        const body = Buffer.from(await res.arrayBuffer());
        const parts = splitMixed(res.headers.get("content-type") ?? "", body);
        if (parts.length !== K * (T + 1) || parts.some((p) => p.body.length !== frameBytes)) fail(`rest_multipart_raw: ${parts.length} parts`);
        return { bytes: body.length, engineMs: Number(res.headers.get("x-dreamengine-engine-wall-ms")) };
      },
    },
    {
      name: "rest_multipart_raw_node",
      async run() {
        const { contentType, body, engineMs } = await nodeHttpPost(form("raw"));
        const parts = splitMixed(contentType, body);
        if (parts.length !== K * (T + 1) || parts.some((p) => p.body.length !== frameBytes)) fail(`rest_multipart_raw_node: ${parts.length} parts`);
        return { bytes: body.length, engineMs };
      },
    },
    {
      name: "rest_multipart_mp4",
      async run() {
        const res = await checkedFetch({ body: form("mp4") });
        const body = Buffer.from(await res.arrayBuffer());
        const parts = splitMixed(res.headers.get("content-type") ?? "", body);
        if (parts.length !== K || parts.some((p) => p.headers["content-type"] !== "video/mp4" || p.headers["x-dreamengine-frames"] !== String(T + 1))) fail("rest_multipart_mp4: wrong parts");
        return { bytes: body.length, engineMs: Number(res.headers.get("x-dreamengine-engine-wall-ms")) };
      },
    },
    {
      name: "rest_json_mp4",
      async run() {
        const res = await checkedFetch({ headers: { "content-type": "application/json" }, body: jsonBody("") });
        const text = await res.text();
        const body = JSON.parse(text) as { rollouts: { video: string; frame_count: number }[]; summary: { engine_wall_ms: number } };
        const videos = body.rollouts.map((r) => Buffer.from(r.video, "base64"));
        if (videos.length !== K || body.rollouts.some((r) => r.frame_count !== T + 1) || videos.some((v) => v.subarray(4, 8).toString() !== "ftyp")) fail("rest_json_mp4: wrong shape");
        return { bytes: Buffer.byteLength(text), engineMs: body.summary.engine_wall_ms };
      },
    },
  ];

  const only = new Set(ONLY.split(",").filter(Boolean));
  if (only.size > 0) {
    for (const name of only) if (!transports.some((t) => t.name === name)) fail(`unknown transport ${name}`);
    transports.splice(0, transports.length, ...transports.filter((t) => only.has(t.name)));
  }
  const samples = new Map<string, number[]>(transports.map((t) => [t.name, []]));
  /** Wall minus the engine's own wall time: what serving, the transport and the client added. */
  const beyondEngine = new Map<string, number[]>(transports.map((t) => [t.name, []]));
  const bytes = new Map<string, number>();
  const loadBefore = os.loadavg().map((x) => round(x, 2));
  const bar = progress("bench:http", transports.length * (reps + 1));
  try {
    for (const t of transports) {
      bytes.set(t.name, (await t.run()).bytes); // warm-up, unmeasured
      bar.tick(1, `warm-up ${t.name}`);
    }
    for (let r = 0; r < reps; r++) {
      for (let i = 0; i < transports.length; i++) {
        const t = transports[(r + i) % transports.length]!;
        const t0 = performance.now();
        const { engineMs } = await t.run();
        const ms = performance.now() - t0;
        samples.get(t.name)!.push(ms);
        beyondEngine.get(t.name)!.push(ms - engineMs);
        bar.tick(1, t.name);
      }
    }
  } finally {
    bar.stop();
    agent.destroy();
    grpc.close();
    await server.stop();
  }
  const loadAfter = os.loadavg().map((x) => round(x, 2));

  const stats = (name: string) => {
    const xs = samples.get(name)!;
    const extra = beyondEngine.get(name)!;
    return { p50_ms: round(percentile(xs, 0.5)), beyond_engine_p50_ms: round(percentile(extra, 0.5)), beyond_engine_all_ms: extra.map((x) => round(x)), p99_ms: round(percentile(xs, 0.99)), mean_ms: round(xs.reduce((a, b) => a + b, 0) / xs.length), response_mb: round(bytes.get(name)! / 1e6, 2), all_ms: xs.map((x) => round(x)) };
  };
  if (!samples.has("grpc_raw")) fail("grpc_raw must be among the transports (the ratios are against it)");
  const grpcStats = stats("grpc_raw");
  const result = {
    bench: "http",
    model: MODEL,
    resolution: [h, w],
    k: K,
    t: T,
    reps,
    measured: "request sent → response decoded in the client (frames or videos, shape-checked); beyond_engine = that minus the engine's own wall time (engine_wall_ms from the response)",
    like_for_like_with_grpc: ["rest_json_raw", "rest_multipart_raw", "rest_multipart_raw_node"],
    loadavg_before: loadBefore,
    loadavg_after: loadAfter,
    transports: Object.fromEntries(transports.map((t) => [t.name, stats(t.name)])),
    ratios_vs_grpc: Object.fromEntries(
      transports
        .filter((t) => t.name !== "grpc_raw")
        .map((t) => {
          const s = stats(t.name);
          // Per rep too: transports run back to back within a rep, so the pair shares that moment's load.
          const perRep = samples.get(t.name)!.map((x, i) => x / samples.get("grpc_raw")![i]!);
          return [t.name, { p50: round(s.p50_ms / grpcStats.p50_ms, 2), p99: round(s.p99_ms / grpcStats.p99_ms, 2), beyond_engine_p50: round(s.beyond_engine_p50_ms / grpcStats.beyond_engine_p50_ms, 2), per_rep_median: round(percentile(perRep, 0.5), 2), per_rep_min: round(Math.min(...perRep), 2), per_rep_max: round(Math.max(...perRep), 2) }];
        }),
    ),
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  const line = transports.map((t) => {
    const s = result.transports[t.name]!;
    const r = result.ratios_vs_grpc[t.name];
    const ratio = t.name === "grpc_raw" ? "" : ` (${r!.p50}x; per rep ${r!.per_rep_median}x [${r!.per_rep_min}..${r!.per_rep_max}])`;
    return `${t.name} p50 ${s.p50_ms} ms / p99 ${s.p99_ms} ms${ratio}, beyond the engine p50 ${s.beyond_engine_p50_ms} ms`;
  });
  process.stdout.write(`summary: K=${K} T=${T} ${MODEL}, ${reps} interleaved reps, load ${loadBefore.join(" ")} → ${loadAfter.join(" ")}, p50 ratio vs grpc_raw in brackets: ${line.join("; ")}\n`);
  if (process.env.BENCH_OUT) fs.writeFileSync(process.env.BENCH_OUT, JSON.stringify(result, null, 2));
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
