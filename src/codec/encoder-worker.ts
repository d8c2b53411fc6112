// One frame-encoder thread (encoder-pool.ts starts them): takes a batch of same-geometry RGB8 frames,
// given as their addresses in this process (read in place, no copy), encodes them back to back with
// synchronous libvips calls, and transfers the encoded frames back. Synchronous on purpose: this thread has nothing else to do, and
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
  /** Each frame's first byte; the pool keeps the frames referenced until the answer. */
  addresses: bigint[];
}

export type EncodeReply = { id: number; ok: true; outputs: Uint8Array[]; encodeUs: number } | { id: number; ok: false; error: string };

const port = parentPort;
if (port) {
  const vips = loadVipsEncoder();
  port.on("message", (job: EncodeJob) => {
    try {
      if (!vips) throw new Error("libvips could not be loaded in the encoder thread");
      const t0 = performance.now();
      const outputs: Uint8Array[] = [];
      for (const rgb of job.addresses) {
        outputs.push(job.kind === "jpeg" ? vips.jpeg(rgb, job.width, job.height, job.level) : vips.png(rgb, job.width, job.height, job.level, job.adaptiveFiltering));
      }
      const reply: EncodeReply = { id: job.id, ok: true, outputs, encodeUs: (performance.now() - t0) * 1000 };
      port.postMessage(reply, outputs.map((o) => o.buffer as ArrayBuffer));
    } catch (err) {
      const reply: EncodeReply = { id: job.id, ok: false, error: err instanceof Error ? err.message : String(err) };
      port.postMessage(reply);
    }
  });
}
