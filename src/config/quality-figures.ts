// The quality figures the model listing shows (ModelSpec.benchmark.psnr/ssim/lpips) come from the
// latest committed run of `npm run quality`: gpu/quality.json, next to the catalog it describes. Each
// model's `listing` there is the MP4 output (the HTTP surface's default) of one rollout, compared with
// the same model's direct raw frames (docs/RESULTS.md "What the model listing shows"). For a slug the
// file lists, its figures replace the catalog's, and null (not measured, e.g. LPIPS without an LPIPS
// model) leaves the field absent — never a made-up value. Slugs it does not list keep what the catalog
// says. A missing file means no measured figures; a malformed one stops the boot, naming the file.
import fs from "node:fs";
import path from "node:path";
import type { CatalogEntry } from "./catalog";
import { ConfigError } from "./config";

export const QUALITY_FILE = "quality.json";

export interface QualityFigures {
  psnr: number | undefined;
  ssim: number | undefined;
  lpips: number | undefined;
}

/** JSON has no Infinity: the bench writes identical frames' PSNR as "Infinity" (proto3 JSON's spelling). */
function figure(file: string, slug: string, key: string, v: unknown): number | undefined {
  if (v === null || v === undefined) return undefined;
  if (v === "Infinity") return Infinity;
  if (typeof v === "number" && Number.isFinite(v)) return v;
  throw new ConfigError(`${file}: models.${slug}.listing.${key} must be a number, "Infinity" or null, got ${JSON.stringify(v)?.slice(0, 64)}`);
}

export function readQualityFigures(file: string): Map<string, QualityFigures> {
  const out = new Map<string, QualityFigures>();
  if (!fs.existsSync(file)) return out;
  let parsed: { models?: Record<string, { listing?: Record<string, unknown> }> };
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8")) as typeof parsed;
  } catch (err) {
    throw new ConfigError(`cannot read quality figures ${file}: ${(err as Error).message}`);
  }
  if (typeof parsed.models !== "object" || parsed.models === null) throw new ConfigError(`${file}: "models" must be an object of slug → { listing }`);
  for (const [slug, m] of Object.entries(parsed.models)) {
    const l = m?.listing;
    if (typeof l !== "object" || l === null) throw new ConfigError(`${file}: models.${slug}.listing must be an object {psnr, ssim, lpips}`);
    out.set(slug, { psnr: figure(file, slug, "psnr", l.psnr), ssim: figure(file, slug, "ssim", l.ssim), lpips: figure(file, slug, "lpips", l.lpips) });
  }
  return out;
}

/** The figures file that belongs to a catalog file: gpu/catalog.json → gpu/quality.json. */
export function qualityFileFor(catalogFile: string): string {
  return path.join(path.dirname(catalogFile), QUALITY_FILE);
}

export function applyQualityFigures(entries: CatalogEntry[], figures: Map<string, QualityFigures>): void {
  for (const e of entries) {
    const f = figures.get(e.slug);
    if (f === undefined) continue;
    e.benchmark = { ...e.benchmark, psnr: f.psnr, ssim: f.ssim, lpips: f.lpips };
  }
}
