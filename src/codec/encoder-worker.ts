// One frame-encoder thread (encoder-pool.ts starts them): takes a batch of same-geometry RGB8 frames
// packed in one transferred buffer, encodes them back to back with synchronous libvips calls, and
// transfers the encoded frames back. Synchronous on purpose: this thread has nothing else to do, and
// one message per batch replaces one libuv round trip per frame.

import { parentPort } from "node:worker_threads";
import { loadVipsEncoder } from "./vips-native";

export interface EncodeJob {
  id: number;
  kind: "jpeg" | "png";
  width: number;
  height: number;
  /** JPEG quality, or PNG zlib level. */
  level: number;
  adaptiveFiltering: boolean;
  count: number;
  pixels: ArrayBuffer;
}

/** `pixels` goes back with the answer so the pool can reuse it (no fresh, zero-filled buffer per batch). */
export type EncodeReply = { id: number; ok: true; outputs: Uint8Array[]; pixels: ArrayBuffer; encodeUs: number } | { id: number; ok: false; error: string };

const port = parentPort;
if (port) {
  const vips = loadVipsEncoder();
  port.on("message", (job: EncodeJob) => {
    try {
      if (!vips) throw new Error("libvips could not be loaded in the encoder thread");
      const frameBytes = job.width * job.height * 3;
      const t0 = performance.now();
      const outputs: Uint8Array[] = [];
      for (let i = 0; i < job.count; i++) {
        const rgb = new Uint8Array(job.pixels, i * frameBytes, frameBytes);
        outputs.push(job.kind === "jpeg" ? vips.jpeg(rgb, job.width, job.height, job.level) : vips.png(rgb, job.width, job.height, job.level, job.adaptiveFiltering));
      }
      const reply: EncodeReply = { id: job.id, ok: true, outputs, pixels: job.pixels, encodeUs: (performance.now() - t0) * 1000 };
      port.postMessage(reply, [job.pixels, ...outputs.map((o) => o.buffer as ArrayBuffer)]);
    } catch (err) {
      const reply: EncodeReply = { id: job.id, ok: false, error: err instanceof Error ? err.message : String(err) };
      port.postMessage(reply);
    }
  });
}
