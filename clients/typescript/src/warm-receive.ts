// Receiving a large unary response into memory that is already faulted in.
//
// A raw K=8 T=48 480x640 PredictBatch response is 361 MB. grpc-js collects a message's HTTP/2 chunks
// and concatenates them into a new buffer when the last one arrives; on the VMs this was measured on,
// writing 361 MB into never-touched pages costs 1-2 s of page faults (`npm run bench:fresh-memory`),
// all of it after the engine has finished. Yet the size of a raw response is known when the request
// is sent (K x (T+1) frames of H x W x 3 bytes), and the caller then waits seconds for the engine.
// So DreamClient reserves a buffer of that size when it sends such a request, a worker thread faults
// its pages in meanwhile (without holding up this thread's event loop), and the decoder below copies
// each chunk into it as it arrives. A response that finds no ready reservation of the right size takes
// a fresh buffer, exactly as before.
//
// The decoder is grpc-js's private StreamDecoder, replaced only while it has the shape it has had
// since 1.x (write(data) with readState, readSizeRemaining, readMessageRemaining and
// maxReadMessageLength), and it departs from the original only for a message that spans chunks and
// fits a ready reservation; everything else takes the original path. It yields the same framed Buffer
// (flag, length, message) the original would. (Copying each chunk into a fresh buffer as it arrives
// measured no better than grpc-js's concatenation, so without a reservation nothing changes.)
//
// Replacing a private method of a dependency is not something to do to a process that did not ask:
// nothing here runs at import. The first DreamClient constructed with `warmReceive` calls
// installWarmReceive(), which patches the decoder for the whole process (grpc-js has one), and
// package.json pins grpc-js exactly so that the shape checked below is the shape shipped with.
import { Worker } from "node:worker_threads";
import { GRPC_PREFIX_BYTES as PREFIX_BYTES } from "../../../src/wire/framing";

/** Below this a response is cheap to fault in on arrival; reserving ahead is not worth a thread hop. */
export const WARM_RECEIVE_BYTES_MIN = 4 * 1024 * 1024;
/** Above this nothing is reserved (a buffer that large may not be allocatable at all). */
export const WARM_RECEIVE_BYTES_MAX = 2 * 1024 * 1024 * 1024;

// StreamDecoder's ReadState values.
const NO_DATA = 0;
const READING_SIZE = 1;

interface Reserved {
  id: number;
  capacity: number;
  buffer?: Buffer;
  cancelled: boolean;
}

const reserved = new Map<number, Reserved>();
let nextId = 1;
let worker: Worker | undefined;
let workerFailed = false;
const counters = { reserved: 0, warm: 0, fresh: 0 };

/** Reservations made, messages received into one, and messages of WARM_RECEIVE_BYTES_MIN+ received without. */
export const warmReceiveCounters = (): Readonly<typeof counters> => ({ ...counters });

// Allocates the buffer and writes one byte per 4 KiB page: the fault is the cost, the write is not.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
parentPort.on("message", ({ id, bytes }) => {
  let ab;
  try {
    ab = new ArrayBuffer(bytes);
  } catch {
    parentPort.postMessage({ id }); // out of memory: that one response is received as usual
    return;
  }
  const u8 = new Uint8Array(ab);
  for (let i = 0; i < bytes; i += 4096) u8[i] = 0;
  parentPort.postMessage({ id, ab }, [ab]);
});
`;

function faulter(): Worker | undefined {
  if (worker || workerFailed) return worker;
  try {
    worker = new Worker(WORKER_SOURCE, { eval: true });
  } catch {
    workerFailed = true;
    return undefined;
  }
  worker.on("message", ({ id, ab }: { id: number; ab?: ArrayBuffer }) => {
    const r = reserved.get(id);
    if (r && !r.cancelled && ab) r.buffer = Buffer.from(ab);
  });
  worker.on("error", () => {
    workerFailed = true;
    worker = undefined;
  });
  worker.unref(); // never keeps the caller's process alive (after the listeners, which would ref it)
  return worker;
}

export interface Reservation {
  /** The buffer is faulted in and waiting for its response. */
  readonly ready: boolean;
  /** Drops the reservation (the call ended); a buffer not yet taken is released to the collector. */
  cancel(): void;
}

/**
 * Reserves a warm receive buffer of `capacityBytes` for a response about to be requested; undefined
 * when it is too small to be worth it or the decoder could not be installed. The caller cancels it
 * when its call ends, whether or not the buffer was used.
 */
export function reserveWarmReceive(capacityBytes: number, minBytes = WARM_RECEIVE_BYTES_MIN): Reservation | undefined {
  if (!installed || capacityBytes < minBytes || capacityBytes > WARM_RECEIVE_BYTES_MAX || !Number.isSafeInteger(capacityBytes)) return undefined;
  const w = faulter();
  if (!w) return undefined;
  const r: Reserved = { id: nextId++, capacity: capacityBytes, cancelled: false };
  reserved.set(r.id, r);
  counters.reserved++;
  w.postMessage({ id: r.id, bytes: capacityBytes });
  return {
    get ready() {
      return r.buffer !== undefined;
    },
    cancel() {
      r.cancelled = true;
      r.buffer = undefined;
      reserved.delete(r.id);
    },
  };
}

/**
 * The smallest ready reservation that holds `bytes` without wasting more than 1% (at least 64 KiB) of
 * it, taken for good; undefined if none.
 */
export function takeWarm(bytes: number): Buffer | undefined {
  const slack = Math.max(64 * 1024, Math.ceil(bytes / 100));
  let best: Reserved | undefined;
  for (const r of reserved.values()) {
    if (r.buffer && r.capacity >= bytes && r.capacity - bytes <= slack && (!best || r.capacity < best.capacity)) best = r;
  }
  if (!best) return undefined;
  const buffer = best.buffer!;
  best.buffer = undefined;
  reserved.delete(best.id);
  return buffer.subarray(0, bytes);
}

interface DecoderState {
  write(data: Buffer): Buffer[];
  readState: number;
  readSizeRemaining: number;
  readMessageRemaining: number;
  maxReadMessageLength: number;
  warmTarget?: Buffer;
  warmFilled?: number;
}

type Write = (this: DecoderState, data: Buffer) => Buffer[];

function install(): boolean {
  let proto: { write?: Write } | undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    proto = (require("@grpc/grpc-js/build/src/stream-decoder") as { StreamDecoder?: { prototype: { write?: Write } } }).StreamDecoder?.prototype;
  } catch {
    return false;
  }
  const original = proto?.write;
  if (!proto || typeof original !== "function" || original.length !== 1 || !["readState", "readSizeRemaining", "readMessageRemaining", "maxReadMessageLength"].every((field) => String(original).includes(`this.${field}`))) return false;
  // Feeds the original decoder contiguous pieces of the stream in order (it is indifferent to how the
  // stream is cut), except that a message which starts at a message boundary, does not end in this
  // chunk and fits a ready reservation is copied into that reservation instead.
  proto.write = function (this: DecoderState, data: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let at = 0;
    while (at < data.length) {
      const target = this.warmTarget;
      if (target) {
        const n = Math.min(data.length - at, target.length - this.warmFilled!);
        data.copy(target, this.warmFilled!, at, at + n);
        this.warmFilled! += n;
        at += n;
        if (this.warmFilled! === target.length) {
          this.warmTarget = undefined;
          this.warmFilled = undefined;
          out.push(target);
        }
        continue;
      }
      if (this.readState !== NO_DATA) {
        // Hand the original exactly the rest of the prefix or message it is in the middle of.
        const n = Math.min(data.length - at, this.readState === READING_SIZE ? this.readSizeRemaining : this.readMessageRemaining);
        if (!(n > 0)) break; // a state this code does not know: the original takes the rest
        out.push(...original.call(this, data.subarray(at, at + n)));
        at += n;
        continue;
      }
      if (data.length - at < PREFIX_BYTES) break; // a prefix cut in two: the original reads it
      const framed = data.readUInt32BE(at + 1) + PREFIX_BYTES;
      if (data.length - at >= framed) {
        out.push(...original.call(this, data.subarray(at, at + framed)));
        at += framed;
        continue;
      }
      const tooLarge = this.maxReadMessageLength !== -1 && framed - PREFIX_BYTES > this.maxReadMessageLength;
      const warm = !tooLarge && reserved.size > 0 ? takeWarm(framed) : undefined;
      if (warm) counters.warm++;
      else if (framed >= WARM_RECEIVE_BYTES_MIN) counters.fresh++;
      if (!warm) break;
      this.warmTarget = warm;
      this.warmFilled = 0;
    }
    if (at < data.length) out.push(...original.call(this, data.subarray(at)));
    return out;
  };
  return true;
}

let installed: boolean | undefined;

/**
 * Replaces grpc-js's StreamDecoder.prototype.write, once per process; later calls return the first
 * one's answer. False if grpc-js's decoder is not the shape this was written against (then nothing is
 * patched and every response is received as grpc-js receives it).
 */
export function installWarmReceive(): boolean {
  installed ??= install();
  return installed;
}

/** Whether the decoder is in place (false until installWarmReceive, or if grpc-js changed shape). */
export const warmReceiveInstalled = (): boolean => installed === true;
