// The raw material the fuzzer mutates: well-formed PNG frames and .npy actions for the tiny model, and
// generators of malformed images and .npy headers (wrong magic, lying shapes, deep nesting, huge dims).
import sharp from "sharp";
import { encodeNpy } from "../../src/codec";
import { testActions, testFrame } from "../e2e/harness";
import { mutateBytes } from "./mutate";
import type { Prng } from "./prng";

export const TINY = "dream-reference-tiny";
export const H = 48;
export const W = 64;
export const D = 384;
/** Small rollouts keep the successful cases cheap; T up to one chunk. */
export const STEPS_MAX = 12;

export interface Seeds {
  png: Buffer;
  pngWrongSize: Buffer;
  jpeg: Buffer;
  raw: Buffer;
  npy: (steps: number, k?: number) => Buffer;
}

export async function makeSeeds(): Promise<Seeds> {
  const raw = Buffer.from(testFrame(H, W));
  const img = () => sharp(raw, { raw: { width: W, height: H, channels: 3 } });
  return {
    png: await img().png().toBuffer(),
    pngWrongSize: await sharp(Buffer.from(testFrame(32, 32)), { raw: { width: 32, height: 32, channels: 3 } }).png().toBuffer(),
    jpeg: await img().jpeg().toBuffer(),
    raw,
    npy: (steps, k = 0) => encodeNpy(testActions(steps, D, k), [steps, D]),
  };
}

/** A frame part: mostly valid, else mutated, truncated, the wrong size, empty or noise. */
export function frameBytes(rng: Prng, seeds: Seeds): Buffer {
  switch (rng.int(0, 7)) {
    case 0:
    case 1:
    case 2:
      return seeds.png;
    case 3:
      return mutateBytes(rng, rng.chance(0.5) ? seeds.png : seeds.jpeg, 1 << 16);
    case 4:
      return seeds.pngWrongSize;
    case 5:
      return seeds.png.subarray(0, rng.int(0, seeds.png.length));
    case 6:
      return rng.chance(0.5) ? Buffer.alloc(0) : rng.bytes(rng.int(1, 4096));
    default:
      return hugePngHeader(rng);
  }
}

/** A PNG signature and IHDR that claim enormous dimensions, with no image data behind them. */
function hugePngHeader(rng: Prng): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(rng.pick([0, 1, 65535, 0x7fffffff, 0xffffffff]), 0);
  ihdr.writeUInt32BE(rng.pick([0, 1, 65535, 0x7fffffff, 0xffffffff]), 4);
  ihdr[8] = 8;
  ihdr[9] = rng.pick([0, 2, 6, 3, 7]);
  const chunk = Buffer.concat([Buffer.from([0, 0, 0, 13]), Buffer.from("IHDR"), ihdr, Buffer.alloc(4)]);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk]);
}

/** An actions part: mostly valid, else a lying or malformed header, a mutated body or noise. */
export function actionsBytes(rng: Prng, seeds: Seeds, k = 0): Buffer {
  switch (rng.int(0, 6)) {
    case 0:
    case 1:
    case 2:
      return seeds.npy(rng.int(1, STEPS_MAX), k);
    case 3:
      return mutateBytes(rng, seeds.npy(rng.int(1, STEPS_MAX), k), 1 << 20);
    case 4:
      return npyWithHeader(npyHeaderText(rng), rng.bytes(rng.int(0, 4096)));
    case 5:
      return seeds.npy(rng.int(1, STEPS_MAX), k).subarray(0, rng.int(0, 200));
    default:
      return rng.bytes(rng.int(0, 512));
  }
}

function npyHeaderText(rng: Prng): string {
  const descr = rng.pick(["<f4", "<f8", "|u1", ">f4", "<i8", "<c16", "O", "'", "<f4'", rng.text(rng.int(0, 12))]);
  const order = rng.pick(["False", "True", "0", "None", rng.text(3)]);
  const dims = () => rng.pick([0, 1, 12, 384, -1, 2 ** 31, 2 ** 53, 1e300, Number.MAX_SAFE_INTEGER]);
  let shape: string;
  switch (rng.int(0, 4)) {
    case 0:
      shape = `(${dims()}, ${dims()})`;
      break;
    case 1: {
      const depth = rng.int(10, 5000);
      shape = "(".repeat(depth) + ")".repeat(rng.chance(0.5) ? depth : rng.int(0, depth));
      break;
    }
    case 2:
      shape = `(${Array.from({ length: rng.int(0, 40) }, dims).join(", ")})`;
      break;
    case 3:
      shape = `[${rng.text(rng.int(0, 30))}]`;
      break;
    default:
      shape = "(12, 384,)";
  }
  const head = `{'descr': '${descr}', 'fortran_order': ${order}, 'shape': ${shape}, }`;
  return rng.chance(0.2) ? head.slice(0, rng.int(0, head.length)) : head;
}

function npyWithHeader(header: string, body: Buffer): Buffer {
  const text = Buffer.from(header + "\n", "latin1");
  const pre = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(pre);
  pre.writeUInt16LE(Math.min(0xffff, text.length), 8);
  return Buffer.concat([pre, text, body]);
}
