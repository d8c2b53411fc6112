// Writes the deterministic reference models (encoder.onnx + step.onnx per catalog entry with a
// `reference` kind). Byte-for-byte reproducible: seeded weights, fixed names, no timestamps.
//
//   npm run models [-- --out DIR]        build every reference model (default DIR: gpu/models)
//
// ensureReferenceModels() is what the server and the tests call: it rebuilds in memory (tens of ms)
// and writes only files that are missing or differ, so a stale model from an older builder never
// survives. Writes go through a temp file + rename, so concurrent test processes never see a partial file.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import type { Catalog, CatalogEntry } from "../src/config/catalog";
import { encodeModel, type ModelMeta } from "./onnx/graph";
import { encoderGraph } from "./reference/encoder-graph";
import { referenceParams, type ReferenceParams } from "./reference/params";
import { stepGraph } from "./reference/step-graph";

export const REFERENCE_IR_VERSION = 10;
export const REFERENCE_OPSET = 21;
/** Bump when the reference graphs change meaningfully (it is written into the models' metadata). */
export const REFERENCE_BUILDER_VERSION = "1";
export const DEFAULT_MODEL_DIR = join(__dirname, "models");
export const DEFAULT_CATALOG_PATH = join(__dirname, "catalog.json");

export interface ReferenceModelBytes {
  encoder: Uint8Array;
  step: Uint8Array;
}

function meta(p: ReferenceParams, role: string): ModelMeta {
  return {
    irVersion: REFERENCE_IR_VERSION,
    opset: REFERENCE_OPSET,
    producerName: "dream-engine gpu/build-reference-models.ts",
    producerVersion: REFERENCE_BUILDER_VERSION,
    docString: `Dream Engine reference world model (${p.kind}, ${p.height}x${p.width}): ${role}. Contract: docs/MODEL_CONTRACT.md.`,
    metadata: {
      "dream.contract": "dream-engine/model-contract/v1",
      "dream.role": role,
      "dream.reference_kind": p.kind,
      "dream.resolution": `${p.height}x${p.width}`,
      "dream.action_dim": String(p.actionDim),
      "dream.chunk_size": String(p.chunkSize),
    },
  };
}

/** The two models of one reference entry, in memory. */
export function referenceModelBytes(entry: CatalogEntry): ReferenceModelBytes {
  const p = referenceParams(entry);
  return {
    encoder: encodeModel(encoderGraph(p), meta(p, "encoder")),
    step: encodeModel(stepGraph(p), meta(p, "step")),
  };
}

async function writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  await writeFile(tmp, bytes);
  await rename(tmp, path);
}

async function sameBytes(path: string, bytes: Uint8Array): Promise<boolean> {
  try {
    return Buffer.from(bytes).equals(await readFile(path));
  } catch {
    return false;
  }
}

function referenceEntries(entries: CatalogEntry[]): CatalogEntry[] {
  return entries.filter((e) => e.reference !== undefined);
}

/** Builds (overwrites) every reference model among `entries` (default: gpu/catalog.json). Returns the paths written. */
export async function buildReferenceModels(modelDir: string, entries?: CatalogEntry[]): Promise<string[]> {
  const written: string[] = [];
  for (const entry of referenceEntries(entries ?? (await readCatalog()).models)) {
    const bytes = referenceModelBytes(entry);
    for (const role of ["encoder", "step"] as const) {
      const path = join(modelDir, entry.files[role]);
      await writeAtomic(path, bytes[role]);
      written.push(path);
    }
  }
  return written;
}

/** Builds the reference models that are missing or stale; leaves up-to-date files alone. Returns the paths written. */
export async function ensureReferenceModels(modelDir: string, catalog: Catalog): Promise<string[]> {
  const written: string[] = [];
  for (const entry of referenceEntries(catalog.models)) {
    const bytes = referenceModelBytes(entry);
    for (const role of ["encoder", "step"] as const) {
      const path = join(modelDir, entry.files[role]);
      if (await sameBytes(path, bytes[role])) continue;
      await writeAtomic(path, bytes[role]);
      written.push(path);
    }
  }
  return written;
}

export async function readCatalog(path = DEFAULT_CATALOG_PATH): Promise<Catalog> {
  return JSON.parse(await readFile(path, "utf8")) as Catalog;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const outFlag = args.indexOf("--out");
  const outDir = resolve(outFlag >= 0 && args[outFlag + 1] ? args[outFlag + 1]! : DEFAULT_MODEL_DIR);
  buildReferenceModels(outDir).then(
    (paths) => {
      for (const p of paths) console.log(`wrote ${p}`);
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
