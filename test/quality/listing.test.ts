// The model listing (ModelSpec.benchmark) carries the committed `npm run quality` figures from
// gpu/quality.json — the MP4 row of one rollout against direct raw — and null (absent) wherever
// nothing was measured: LPIPS without an LPIPS model, and every model the file does not list.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadCatalog } from "../../src/config/load-catalog";
import { modelSpec } from "../../src/service/model-spec";

const ROOT = path.join(__dirname, "..", "..");
const spec = (entry: ReturnType<typeof loadCatalog>["models"][number]) => modelSpec({ entry, status: "live", statusReason: "", engine: undefined });
const num = (v: unknown): number | undefined => (v === null ? undefined : v === "Infinity" ? Infinity : (v as number));

describe("model listing quality figures", () => {
  it("carries the committed gpu/quality.json figures, and nulls where not measured", () => {
    const committed = JSON.parse(fs.readFileSync(path.join(ROOT, "gpu", "quality.json"), "utf8")) as {
      models: Record<string, { listing: { psnr: unknown; ssim: unknown; lpips: unknown }; rows: { composition: string; output: string; psnr_db: unknown; ssim: number }[] }>;
    };
    const catalog = loadCatalog(path.join(ROOT, "gpu", "catalog.json"));
    const measured = Object.keys(committed.models);
    assert.ok(measured.includes("dream-reference-tiny") && measured.includes("dream-reference-480p"), `gpu/quality.json lists ${measured}`);
    for (const entry of catalog.models) {
      const b = spec(entry).benchmark!;
      const c = committed.models[entry.slug];
      if (c === undefined) {
        assert.deepEqual([b.psnr, b.ssim, b.lpips], [undefined, undefined, undefined], `${entry.slug}: not measured, so no figures`);
        continue;
      }
      // The listing figure is the K=1 MP4 row of the same run.
      const row = c.rows.find((r) => r.composition === "K=1" && r.output === "MP4")!;
      assert.ok(row, `${entry.slug}: no K=1 MP4 row`);
      assert.equal(b.psnr, num(row.psnr_db));
      assert.equal(b.ssim, row.ssim);
      assert.ok(Number.isFinite(b.psnr) && b.psnr! > 0 && b.ssim! > 0 && b.ssim! <= 1, `${entry.slug}: psnr ${b.psnr}, ssim ${b.ssim}`);
      assert.equal(b.psnr, num(c.listing.psnr));
      assert.equal(b.lpips, num(c.listing.lpips));
    }
  });

  describe("gpu/quality.json beside a catalog", () => {
    let dir: string;
    const entry = loadCatalog(path.join(ROOT, "gpu", "catalog.json")).models.find((e) => e.slug === "dream-reference-tiny")!;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-quality-listing-"));
      const { benchmark: _, ...bare } = entry;
      fs.writeFileSync(path.join(dir, "catalog.json"), JSON.stringify({ models: [{ ...bare, benchmark: { p50Ms: 12 } }] }));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
    const load = () => loadCatalog(path.join(dir, "catalog.json")).models[0]!;
    const writeQuality = (v: unknown) => fs.writeFileSync(path.join(dir, "quality.json"), typeof v === "string" ? v : JSON.stringify(v));

    it("no file: the catalog's own benchmark stays as it is", () => {
      assert.deepEqual(load().benchmark, { p50Ms: 12 });
    });

    it("fills psnr/ssim, keeps other fields, and leaves null figures absent", () => {
      writeQuality({ models: { [entry.slug]: { listing: { psnr: 36.5, ssim: 0.97, lpips: null } }, "not-in-catalog": { listing: { psnr: 1, ssim: 1, lpips: 1 } } } });
      const b = spec(load()).benchmark!;
      assert.deepEqual([b.p50Ms, b.psnr, b.ssim, b.lpips], [12, 36.5, 0.97, undefined]);
    });

    it("reads \"Infinity\" (identical frames) and refuses anything else that is not a number, naming the file", () => {
      writeQuality({ models: { [entry.slug]: { listing: { psnr: "Infinity", ssim: 1, lpips: null } } } });
      assert.equal(load().benchmark!.psnr, Infinity);
      writeQuality({ models: { [entry.slug]: { listing: { psnr: "36 dB", ssim: 1, lpips: null } } } });
      assert.throws(load, /quality\.json: models\.dream-reference-tiny\.listing\.psnr must be a number, "Infinity" or null, got "36 dB"/);
      writeQuality("{ not json");
      assert.throws(load, /cannot read quality figures .*quality\.json/);
      writeQuality({ models: { [entry.slug]: {} } });
      assert.throws(load, /listing must be an object/);
    });
  });
});
