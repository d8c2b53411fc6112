// Reads and validates gpu/catalog.json (or DREAM_CATALOG). A bad catalog stops the server at boot with
// the entry and field named, rather than failing on the first request.
import fs from "node:fs";
import { limits } from "../core/limits";
import type { Catalog, CatalogEntry } from "./catalog";
import { ConfigError } from "./config";
import { applyQualityFigures, qualityFileFor, readQualityFigures } from "./quality-figures";

const SLUG = /^[a-z0-9][a-z0-9-]{1,62}$/;

function check(entry: CatalogEntry, ok: boolean, field: string, why: string): void {
  if (!ok) throw new ConfigError(`catalog entry ${JSON.stringify(entry.slug)}: ${field} ${why}`);
}

export function validateEntry(e: CatalogEntry): CatalogEntry {
  check(e, typeof e.slug === "string" && SLUG.test(e.slug), "slug", "must be lowercase [a-z0-9-]");
  const [h, w] = e.resolution ?? [];
  check(e, Number.isInteger(h) && Number.isInteger(w) && h > 0 && w > 0 && h <= limits.frameHeightMax && w <= limits.frameWidthMax, "resolution", `must be [H, W] within ${limits.frameHeightMax}x${limits.frameWidthMax}`);
  check(e, Number.isInteger(e.actionDim) && e.actionDim > 0 && e.actionDim <= limits.actionDimMax, "actionDim", "out of range");
  check(e, Number.isInteger(e.chunkSize) && e.chunkSize > 0 && e.chunkSize <= limits.actionStepsMax, "chunkSize", "out of range");
  check(e, Number.isInteger(e.fps) && e.fps > 0 && e.fps <= 120, "fps", "out of range");
  check(e, Number.isInteger(e.defaultNumSteps) && e.defaultNumSteps >= 1 && e.defaultNumSteps <= limits.numStepsMax, "defaultNumSteps", "out of range");
  check(e, Number.isSafeInteger(e.pricePerFrameMicros) && e.pricePerFrameMicros >= 0, "pricePerFrameMicros", "must be a non-negative integer (micro-USD)");
  check(e, Number.isInteger(e.batchLanesMax) && e.batchLanesMax >= 1 && e.batchLanesMax <= limits.batchLanesMax, "batchLanesMax", `must be 1..${limits.batchLanesMax}`);
  check(e, Number.isInteger(e.queueDelayUs) && e.queueDelayUs >= 0 && e.queueDelayUs <= limits.queueDelayUsMax, "queueDelayUs", "out of range");
  check(e, e.ortSpinning === undefined || typeof e.ortSpinning === "boolean", "ortSpinning", "must be true or false");
  check(e, Boolean(e.files?.encoder) && Boolean(e.files?.step), "files", "needs encoder and step");
  if (e.scorers !== undefined) validateScorers(e);
  return e;
}

// --- scorers (docs/MODEL_CONTRACT.md "Scorers") ---------------------------------------------------

const SCORER_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** Allowed keys per scorer form; anything else is a typo the operator should hear about at boot. */
const SCORER_KEYS: Record<string, readonly string[]> = {
  "pixel-l2": ["builtin", "downsample"],
  "pixel-l1": ["builtin", "downsample"],
  ssim: ["builtin", "downsample", "window"],
  "latent-mse": ["builtin"],
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function validateScorers(e: CatalogEntry): void {
  check(e, isPlainObject(e.scorers), "scorers", "must be an object of name → scorer");
  const names = Object.keys(e.scorers!);
  check(e, names.length <= limits.scorersPerModelMax, "scorers", `has ${names.length} entries, at most ${limits.scorersPerModelMax}`);
  for (const name of names) {
    check(e, SCORER_NAME.test(name), `scorers.${name.slice(0, limits.errorEchoCharsMax)}`, "name must be lowercase [a-z0-9-], at most 63 characters");
    validateScorer(e, `scorers.${name}`, e.scorers![name]);
  }
}

function validateScorer(e: CatalogEntry, field: string, raw: unknown): void {
  check(e, isPlainObject(raw), field, 'must be an object: {"builtin": ...} or {"file": ...}');
  const s = raw as Record<string, unknown>;
  check(e, ("builtin" in s) !== ("file" in s), field, 'needs exactly one of "builtin" and "file"');
  if ("file" in s) {
    const f = s.file;
    check(e, typeof f === "string" && f.length > 0 && !f.startsWith("/") && !f.split(/[\\/]/).includes(".."), `${field}.file`, "must be a path relative to the model directory (no leading / and no ..)");
    for (const k of Object.keys(s)) check(e, k === "file", `${field}.${k}`, "is not a field of a file scorer");
    return;
  }
  const keys = SCORER_KEYS[String(s.builtin)];
  check(e, keys !== undefined, `${field}.builtin`, `must be one of ${Object.keys(SCORER_KEYS).join(", ")}`);
  for (const k of Object.keys(s)) check(e, keys!.includes(k), `${field}.${k}`, `is not a field of the ${String(s.builtin)} scorer`);
  const [h, w] = e.resolution;
  const downsample = s.downsample ?? 1;
  if ("downsample" in s) {
    const ok = Number.isInteger(downsample) && (downsample as number) >= 1 && (downsample as number) <= limits.scorerDownsampleMax;
    check(e, ok && h % (downsample as number) === 0 && w % (downsample as number) === 0, `${field}.downsample`, `must be an integer 1..${limits.scorerDownsampleMax} dividing both ${h} and ${w}`);
  }
  if (s.builtin === "ssim") {
    const window = s.window ?? 7;
    const side = Math.min(h, w) / (downsample as number);
    check(e, Number.isInteger(window) && (window as number) >= 1 && (window as number) <= Math.min(side, limits.scorerDownsampleMax), `${field}.window`, `must be an integer 1..${Math.min(side, limits.scorerDownsampleMax)} (no larger than the downsampled image)`);
  }
}

export function loadCatalog(file: string): Catalog {
  let parsed: Catalog;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8")) as Catalog;
  } catch (err) {
    throw new ConfigError(`cannot read model catalog ${file}: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed.models)) throw new ConfigError(`catalog ${file}: "models" must be an array`);
  const seen = new Set<string>();
  for (const entry of parsed.models) {
    validateEntry(entry);
    if (seen.has(entry.slug)) throw new ConfigError(`catalog ${file}: duplicate slug ${entry.slug}`);
    seen.add(entry.slug);
  }
  // The listing's psnr/ssim/lpips: the latest committed `npm run quality` run (quality-figures.ts).
  applyQualityFigures(parsed.models, readQualityFigures(qualityFileFor(file)));
  return { models: parsed.models };
}
