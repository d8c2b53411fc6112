import { strict as assert } from "node:assert";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onnx } from "onnx-proto";
import { buildReferenceModels, ensureReferenceModels, readCatalog, REFERENCE_IR_VERSION, REFERENCE_OPSET } from "../../gpu/build-reference-models";

describe("gpu/build-reference-models", () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const d = await mkdtemp(join(tmpdir(), "dream-models-"));
    dirs.push(d);
    return d;
  };
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("builds both reference models byte-for-byte reproducibly", async () => {
    const [a, b] = [await tempDir(), await tempDir()];
    const written = await buildReferenceModels(a);
    await buildReferenceModels(b);
    const refs = (await readCatalog()).models.filter((m) => m.reference !== undefined);
    assert.deepEqual(refs.map((m) => m.slug).sort(), ["dream-reference-480p", "dream-reference-tiny"]);
    assert.equal(written.length, 4);
    for (const path of written) {
      const rel = path.slice(a.length);
      const [x, y] = [await readFile(path), await readFile(join(b, rel))];
      assert.ok(x.length > 1000, `${rel} is suspiciously small`);
      assert.ok(x.equals(y), `${rel} differs between two builds`);
    }
  });

  it("writes IR version 10, opset 21 and a symbolic batch dimension", async () => {
    const dir = await tempDir();
    const entries = (await readCatalog()).models.filter((m) => m.slug === "dream-reference-tiny");
    await buildReferenceModels(dir, entries);
    const step = onnx.ModelProto.decode(await readFile(join(dir, entries[0]!.files.step)));
    assert.equal(Number(step.irVersion), REFERENCE_IR_VERSION);
    assert.deepEqual(step.opsetImport.map((o) => [o.domain, Number(o.version)]), [["", REFERENCE_OPSET]]);
    const inputs = Object.fromEntries((step.graph?.input ?? []).map((i) => [i.name, (i.type?.tensorType?.shape?.dim ?? []).map((d) => d.dimParam || Number(d.dimValue))]));
    assert.deepEqual(inputs, { state: ["B", 16, 6, 8], actions: ["B", 12, 384], noise: ["B", 16, 6, 8], guidance: ["B"], num_steps: [] });
    const outputs = (step.graph?.output ?? []).map((o) => o.name);
    assert.deepEqual(outputs, ["frames", "next_state"]);
  });

  it("ensureReferenceModels writes only missing or stale files", async () => {
    const dir = await tempDir();
    const catalog = await readCatalog();
    const first = await ensureReferenceModels(dir, catalog);
    assert.equal(first.length, 4);
    assert.deepEqual(await ensureReferenceModels(dir, catalog), [], "up-to-date files are left alone");
    const tiny = catalog.models.find((m) => m.slug === "dream-reference-tiny")!;
    const stale = join(dir, tiny.files.step);
    await writeFile(stale, "not a model");
    assert.deepEqual(await ensureReferenceModels(dir, catalog), [stale]);
    assert.ok((await stat(stale)).size > 1000);
  });

  it("ignores catalog entries that are not reference models", async () => {
    const dir = await tempDir();
    const real = (await readCatalog()).models.filter((m) => m.reference === undefined);
    assert.ok(real.length > 0);
    assert.deepEqual(await ensureReferenceModels(dir, { models: real }), []);
  });
});
