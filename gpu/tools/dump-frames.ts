// Eyeball a reference model: runs a short rollout on the synthetic scene and writes a contact sheet
// (one row per candidate, every `every`-th frame) plus single frames as PNG.
//
//   node --import tsx gpu/tools/dump-frames.ts [slug] [outDir] [numSteps]
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import type { CatalogEntry } from "../../src/config/catalog";
import { DEFAULT_MODEL_DIR, ensureReferenceModels, readCatalog } from "../build-reference-models";
import { runDirect } from "../direct";
import { sampleActions, sampleScene } from "./samples";

async function main(): Promise<void> {
  const slug = process.argv[2] ?? "dream-reference-480p";
  const outDir = process.argv[3] ?? "/tmp/dream-frames";
  const numSteps = Number(process.argv[4] ?? 4);
  const catalog = await readCatalog();
  const entry = catalog.models.find((m) => m.slug === slug) as CatalogEntry;
  await ensureReferenceModels(DEFAULT_MODEL_DIR, catalog);
  const [H, W] = entry.resolution;
  const k = 4;
  const t = 24;
  const frame = await sampleScene(H, W);
  const r = await runDirect(DEFAULT_MODEL_DIR, entry, { k, t, numSteps, seed: 7n, frame, actions: sampleActions(k, t, entry.actionDim) });
  console.log(`rollout k=${k} t=${t} numSteps=${numSteps}: ${r.wallMs.toFixed(0)} ms`);
  await mkdir(outDir, { recursive: true });
  const fb = H * W * 3;
  const picks = [0, 1, 6, 12, 18, 24];
  const sheet = Buffer.alloc(k * H * picks.length * W * 3);
  for (let c = 0; c < k; c++) {
    picks.forEach((f, j) => {
      const src = r.frames.subarray((c * (t + 1) + f) * fb, (c * (t + 1) + f + 1) * fb);
      for (let y = 0; y < H; y++) {
        sheet.set(src.subarray(y * W * 3, (y + 1) * W * 3), ((c * H + y) * picks.length * W + j * W) * 3);
      }
    });
  }
  const sheetPath = join(outDir, `${slug}-sheet.png`);
  await sharp(sheet, { raw: { width: W * picks.length, height: H * k, channels: 3 } }).png().toFile(sheetPath);
  console.log(`wrote ${sheetPath} (rows: candidates 0..${k - 1}; columns: frames ${picks.join(", ")})`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
