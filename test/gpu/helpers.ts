// Shared set-up for the gpu/ tests: the tiny reference model, built once into a temp dir.
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CatalogEntry } from "../../src/config/catalog";
import type { StepLane } from "../../src/scheduler/executor";
import { ensureReferenceModels, readCatalog } from "../../gpu/build-reference-models";

export const TEST_MODEL_DIR = join(tmpdir(), "dream-engine-test-models");

export async function catalogEntry(slug: string): Promise<CatalogEntry> {
  const entry = (await readCatalog()).models.find((m) => m.slug === slug);
  if (entry === undefined) throw new Error(`no catalog entry ${slug}`);
  return entry;
}

/** The tiny model's entry, with its files present in TEST_MODEL_DIR. */
export async function tinyModel(): Promise<{ entry: CatalogEntry; modelDir: string }> {
  const entry = await catalogEntry("dream-reference-tiny");
  await ensureReferenceModels(TEST_MODEL_DIR, { models: [entry] });
  return { entry, modelDir: TEST_MODEL_DIR };
}

/** Deterministic pseudo-random actions in [-1, 1) (LCG), `count` values. */
export function randomActions(count: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: count }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1);
}

export function lane(inStateKey: string, outStateKey: string, actions: Float32Array, seed = 0n, chunkIndex = 0, guidance = 1): StepLane {
  return { inStateKey, outStateKey, actions, guidance, seed, chunkIndex };
}

export function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new Error("length mismatch");
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
