// The two ways bench:saturation sends one K-candidate PredictBatch: gRPC through the TS client (raw
// RGB8, the default) and REST multipart with output=raw (the like-for-like REST form per bench:http).
// Each sender checks the shape of what came back and reports the frames counted, so a short or
// malformed answer is an error, never silently counted as throughput.
import { DreamClient, packActions } from "../clients/typescript/src";
import { encodeNpy } from "../src/codec";
import type { CatalogEntry } from "../src/config/catalog";
import { FrameEncoding } from "../src/gen/dream/v1/dream";
import { testActions, testFrame } from "../test/e2e/harness";
import type { ServerProcess } from "./lib";

export interface Sent {
  /** Frames that came back (K x (T+1) for a complete answer). */
  frames: number;
  /** The server's admission-to-first-chunk time from the response summary; null where the form does not carry it. */
  queueMs: number | null;
}

export interface Sender {
  transport: string;
  send(signal: AbortSignal): Promise<Sent>;
  close(): void;
}

function fail(what: string): never {
  throw new Error(`bench:saturation: ${what}`);
}

export function grpcSender(server: ServerProcess, entry: CatalogEntry, k: number, t: number): Sender {
  const [h, w] = entry.resolution;
  const frameBytes = h * w * 3;
  // retries 0: a failed call is an error at this point, not a hidden second attempt.
  const client = new DreamClient({ address: server.grpcAddress, apiKey: server.apiKey, warmReceive: true, retries: 0 });
  const request = {
    model: entry.slug,
    startFrame: { encoding: FrameEncoding.RAW_RGB8, data: testFrame(h, w), height: h, width: w },
    candidates: Array.from({ length: k }, (_, i) => packActions(testActions(t, entry.actionDim, i), t, entry.actionDim)),
    params: { numSteps: 0, seed: 1 },
  };
  return {
    transport: "grpc",
    async send(signal) {
      const { response } = await client.predictBatch(request, { signal });
      let frames = 0;
      for (const r of response.rollouts) for (const f of r.frames) if (f.byteLength === frameBytes) frames++;
      if (frames !== k * (t + 1)) fail(`grpc: ${frames} frames of ${k * (t + 1)}`);
      return { frames, queueMs: response.summary?.queueMs ?? null };
    },
    close: () => client.close(),
  };
}

/** Parts of a multipart/mixed body whose length is `partBytes`, by Content-Length (the server sets it). */
function countRawParts(contentType: string, body: Buffer, partBytes: number): number {
  const boundary = /boundary=([^;\s]+)/.exec(contentType)?.[1] ?? fail(`no boundary in ${contentType}`);
  const delimiter = Buffer.from(`--${boundary}`);
  let n = 0;
  let pos = body.indexOf(delimiter);
  while (pos >= 0 && body[pos + delimiter.length] !== 0x2d /* "-": closing delimiter */) {
    const headerEnd = body.indexOf("\r\n\r\n", pos);
    const length = Number(/content-length:\s*(\d+)/i.exec(body.subarray(pos, headerEnd).toString("latin1"))?.[1]);
    if (length === partBytes) n++;
    pos = body.indexOf(delimiter, headerEnd + 4 + (Number.isInteger(length) ? length : 0));
  }
  return n;
}

export function restSender(server: ServerProcess, entry: CatalogEntry, k: number, t: number, png: Buffer): Sender {
  const [h, w] = entry.resolution;
  const stacked = new Float32Array(k * t * entry.actionDim);
  for (let i = 0; i < k; i++) stacked.set(testActions(t, entry.actionDim, i), i * t * entry.actionDim);
  const npy = encodeNpy(stacked, [k, t, entry.actionDim]);
  const url = `${server.httpBase}/v1/models/${entry.slug}/predict_batch`;
  return {
    transport: "rest",
    async send(signal) {
      const fd = new FormData();
      fd.append("frame", new Blob([png], { type: "image/png" }), "frame.png");
      fd.append("actions", new Blob([npy], { type: "application/x-npy" }), "actions.npy");
      fd.append("seed", "1");
      fd.append("output", "raw");
      const res = await fetch(url, { method: "POST", body: fd, headers: { authorization: `Bearer ${server.apiKey}` }, signal });
      const body = Buffer.from(await res.arrayBuffer());
      if (res.status !== 200) fail(`rest: HTTP ${res.status}: ${body.subarray(0, 200).toString()}`);
      const frames = countRawParts(res.headers.get("content-type") ?? "", body, h * w * 3);
      if (frames !== k * (t + 1)) fail(`rest: ${frames} frames of ${k * (t + 1)}`);
      // The multipart form carries the summary only as headers, and queue_ms is not among them.
      return { frames, queueMs: null };
    },
    close() {},
  };
}
