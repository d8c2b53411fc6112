// ORT intra-op spinning: per model in the catalog, overridden for every model by DREAM_ORT_SPINNING.
import assert from "node:assert/strict";
import path from "node:path";
import { loadConfig } from "../../src/config/config";
import { loadCatalog, validateEntry } from "../../src/config/load-catalog";
import type { CatalogEntry } from "../../src/config/catalog";

const ROOT = path.resolve(__dirname, "..", "..");

describe("config: ORT spinning", () => {
  it("DREAM_ORT_SPINNING unset leaves each model's catalog setting; on/off override it; anything else is refused naming the variable", () => {
    assert.equal(loadConfig({}).ortSpinning, undefined);
    assert.equal(loadConfig({ DREAM_ORT_SPINNING: "on" }).ortSpinning, true);
    assert.equal(loadConfig({ DREAM_ORT_SPINNING: "off" }).ortSpinning, false);
    assert.throws(() => loadConfig({ DREAM_ORT_SPINNING: "sometimes" }), /DREAM_ORT_SPINNING must be on or off/);
  });

  it("the reference catalog spins for 480p only (bench:spinning), and a non-boolean is refused naming the field", () => {
    const models = loadCatalog(path.join(ROOT, "gpu", "catalog.json")).models;
    assert.equal(models.find((m) => m.slug === "dream-reference-480p")!.ortSpinning, true);
    assert.equal(models.find((m) => m.slug === "dream-reference-tiny")!.ortSpinning, undefined);
    const entry = { ...models[0]!, ortSpinning: "yes" } as unknown as CatalogEntry;
    assert.throws(() => validateEntry(entry), /ortSpinning/);
  });
});
