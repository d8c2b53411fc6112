// A small pool of frame-encoder threads (encoder-worker.ts). Frames asked for in the same turn of the
// event loop — a chunk's K lanes, a response's K x (T+1) frames — are coalesced into one batch per
// thread, so a 48x64 JPEG costs its libvips encode plus a share of one message, not a libuv round trip
// of its own. The event loop only posts frame addresses; the encodes never run on it, and the number of
// threads is sized so encodes do not take the model's cores (threadsFor).
//
// Bounded: at most limits.encodeBatchFramesMax frames (encodeBatchBytesMax bytes) per message, and
// limits.encodeInFlightBytesMax bytes of frames posted and not yet answered; frames beyond that wait
// here as references (their owners hold the pixels anyway) and go out as answers come back. Frames are
// read in place by the threads (by address, as sharp reads its input), never copied.

import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import { assert } from "../core/assert";
import { limits } from "../core/limits";
import { startModuleWorker } from "../core/ts-worker";
import type { EncodeJob, EncodeReply } from "./encoder-worker";
import { addressOf } from "./vips-native";

export type EncodeKind = EncodeJob["kind"];

interface Pending {
  rgb: Uint8Array;
  resolve: (data: Uint8Array) => void;
  reject: (err: Error) => void;
}

interface Group {
  kind: EncodeKind;
  width: number;
  height: number;
  level: number;
  adaptiveFiltering: boolean;
  frames: Pending[];
}

interface Thread {
  worker: Worker;
  /** Frames posted to this thread and not yet answered. */
  queuedFrames: number;
  jobs: Map<number, { frames: Pending[]; bytes: number }>;
}

/** Encoder threads for a host: the cores the model's ORT intra-op threads leave free, at least one. */
export function threadsFor(intraOpThreads: number | undefined, cores = availableParallelism()): number {
  // Without an explicit count ORT's intra-op pool takes every core, so the encoder gets one.
  const free = cores - (intraOpThreads ?? cores);
  return Math.max(1, Math.min(limits.encodeThreadsMax, free));
}

export class EncoderPool {
  private readonly threads: Thread[] = [];
  private readonly queue: Group[] = [];
  private readonly byKey = new Map<string, Group>();
  private flushScheduled = false;
  private nextJobId = 1;
  private inFlightBytes = 0;
  private closed = false;
  private onIdle: (() => void) | undefined;
  private framesEncoded = 0;
  private batches = 0;
  private encodeUs = 0;

  constructor(readonly size: number) {
    assert(Number.isInteger(size) && size >= 1 && size <= limits.encodeThreadsMax, `encoder pool: size ${size} outside 1..${limits.encodeThreadsMax}`);
  }

  encode(kind: EncodeKind, rgb: Uint8Array, width: number, height: number, level: number, adaptiveFiltering = false): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new Error("encoder pool is closed"));
    assert(rgb.byteLength === width * height * 3, `frame is ${rgb.byteLength} bytes, expected ${height}x${width}x3`);
    const key = `${kind}:${width}:${height}:${level}:${adaptiveFiltering ? 1 : 0}`;
    let group = this.byKey.get(key);
    if (group === undefined) {
      group = { kind, width, height, level, adaptiveFiltering, frames: [] };
      this.byKey.set(key, group);
      this.queue.push(group);
    }
    const frames = group.frames;
    const done = new Promise<Uint8Array>((resolve, reject) => frames.push({ rgb, resolve, reject }));
    if (!this.flushScheduled) {
      // setImmediate, not a microtask: callers await between frames (one microtask each), and the
      // whole chunk should be queued before the first batch is cut.
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.byKey.clear(); // later frames start new groups behind the queued ones (FIFO)
        this.dispatch();
      });
    }
    return done;
  }

  /** encodeUs: wall time the threads spent inside their encode loops (their busy time). */
  stats(): { threads: number; framesEncoded: number; batches: number; encodeUs: number; inFlightBytes: number; queuedFrames: number } {
    return { threads: this.size, framesEncoded: this.framesEncoded, batches: this.batches, encodeUs: Math.round(this.encodeUs), inFlightBytes: this.inFlightBytes, queuedFrames: this.queue.reduce((n, g) => n + g.frames.length, 0) };
  }

  /**
   * Takes no new frames and ends the threads once what was already asked for is encoded: a pool being
   * replaced (or stopped by one app while another in the same process still has frames in it) must
   * not fail the frames it already holds.
   */
  async closeWhenDone(): Promise<void> {
    this.closed = true;
    if (this.busy()) await new Promise<void>((resolve) => (this.onIdle = resolve));
    await this.close();
  }

  private busy(): boolean {
    return this.queue.some((g) => g.frames.length > 0) || this.threads.some((t) => t.jobs.size > 0) || this.flushScheduled;
  }

  async close(): Promise<void> {
    this.closed = true;
    const err = new Error("encoder pool closed");
    for (const g of this.queue.splice(0)) for (const f of g.frames) f.reject(err);
    this.byKey.clear();
    await Promise.all(this.threads.splice(0).map((t) => this.retire(t, err)));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const group = this.queue[0]!;
      if (group.frames.length === 0) {
        this.queue.shift();
        continue;
      }
      const frameBytes = group.width * group.height * 3;
      const budget = limits.encodeInFlightBytesMax - this.inFlightBytes;
      // Over budget: wait for an answer, unless nothing is in flight (one frame always goes).
      if (budget < frameBytes && this.inFlightBytes > 0) return;
      const thread = this.leastLoaded();
      // Spread one turn's frames over every thread, but never more than a batch or the budget allows.
      const even = Math.ceil(group.frames.length / this.size);
      const count = Math.max(1, Math.min(even, limits.encodeBatchFramesMax, Math.floor(limits.encodeBatchBytesMax / frameBytes), Math.floor(budget / frameBytes)));
      this.post(thread, group, group.frames.splice(0, count));
    }
  }

  private post(thread: Thread, group: Group, frames: Pending[]): void {
    const bytes = frames.length * group.width * group.height * 3;
    // The thread reads each frame where it lies (its address): no copy on the event loop. `frames`
    // keeps every one referenced until the answer, so its memory can neither be freed nor move.
    const id = this.nextJobId++;
    const job: EncodeJob = { id, kind: group.kind, width: group.width, height: group.height, level: group.level, adaptiveFiltering: group.adaptiveFiltering, addresses: frames.map((f) => addressOf(f.rgb)) };
    thread.jobs.set(id, { frames, bytes });
    thread.queuedFrames += frames.length;
    this.inFlightBytes += bytes;
    thread.worker.postMessage(job);
  }

  private onReply(thread: Thread, reply: EncodeReply): void {
    const job = thread.jobs.get(reply.id);
    if (job === undefined) return;
    thread.jobs.delete(reply.id);
    thread.queuedFrames -= job.frames.length;
    this.inFlightBytes -= job.bytes;
    if (reply.ok) {
      this.framesEncoded += job.frames.length;
      this.batches++;
      this.encodeUs += reply.encodeUs;
      job.frames.forEach((f, i) => f.resolve(reply.outputs[i]!));
    } else {
      const err = new Error(reply.error);
      for (const f of job.frames) f.reject(err);
    }
    this.dispatch();
    if (this.onIdle && !this.busy()) this.onIdle();
  }

  private leastLoaded(): Thread {
    // Threads start on first use, so a server that never encodes an image never starts one.
    if (this.threads.length < this.size) return this.spawn();
    let best = this.threads[0]!;
    for (const t of this.threads) if (t.queuedFrames < best.queuedFrames) best = t;
    return best;
  }

  private spawn(): Thread {
    const worker = startModuleWorker(__dirname, "encoder-worker");
    // Encoder threads never keep the process alive on their own; close() ends them on shutdown.
    worker.unref();
    const thread: Thread = { worker, queuedFrames: 0, jobs: new Map() };
    worker.on("message", (reply: EncodeReply) => this.onReply(thread, reply));
    const lost = (err: Error): void => {
      const i = this.threads.indexOf(thread);
      if (i >= 0) this.threads.splice(i, 1);
      void this.retire(thread, err);
      if (!this.closed) this.dispatch();
    };
    worker.on("error", lost);
    worker.on("exit", (code) => lost(new Error(`encoder thread exited (code ${code})`)));
    this.threads.push(thread);
    return thread;
  }

  private async retire(thread: Thread, err: Error): Promise<void> {
    for (const job of thread.jobs.values()) {
      this.inFlightBytes -= job.bytes;
      for (const f of job.frames) f.reject(err);
    }
    thread.jobs.clear();
    thread.queuedFrames = 0;
    await thread.worker.terminate().catch(() => undefined);
  }
}
