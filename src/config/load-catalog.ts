// Reads and validates gpu/catalog.json (or DREAM_CATALOG). A bad catalog stops the server at boot with
// the entry and field named, rather than failing on the first request.
import fs from "node:fs";
import { limits } from "../core/limits";
import type { Catalog, CatalogEntry } from "./catalog";
import { ConfigError } from "./config";

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
  check(e, Boolean(e.files?.encoder) && Boolean(e.files?.step), "files", "needs encoder and step");
  return e;
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
  return { models: parsed.models };
}
