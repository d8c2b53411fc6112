// status_reason reaches clients (ModelSpec, 503 bodies): it names files as the catalog does, never by
// the server's paths.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { clientReason, missingModelFile } from "../../src/app/app";
import type { CatalogEntry } from "../../src/config/catalog";

describe("app: status_reason shows no server paths", () => {
  let modelDir: string;
  before(() => (modelDir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-models-"))));
  after(() => fs.rmSync(modelDir, { recursive: true, force: true }));

  it("a missing ONNX file is named by its catalog-relative name only", () => {
    const entry = { files: { encoder: "x/encoder.onnx", step: "x/step.onnx" } } as unknown as CatalogEntry;
    const reason = missingModelFile(modelDir, entry);
    assert.equal(reason, "ONNX file not installed: x/encoder.onnx (in the server's DREAM_MODEL_DIR)");
    fs.mkdirSync(path.join(modelDir, "x"));
    fs.writeFileSync(path.join(modelDir, "x", "encoder.onnx"), "");
    const next = missingModelFile(modelDir, entry)!;
    assert.ok(next.includes("x/step.onnx") && !next.includes(modelDir), next);
    fs.writeFileSync(path.join(modelDir, "x", "step.onnx"), "");
    assert.equal(missingModelFile(modelDir, entry), undefined);
  });

  it("a load error's message loses the model directory's path", () => {
    const message = `Load model from ${path.join(modelDir, "x", "step.onnx")} failed: protobuf parsing failed (dir ${modelDir})`;
    const reason = clientReason(modelDir, message);
    assert.equal(reason, "Load model from x/step.onnx failed: protobuf parsing failed (dir <model dir>)");
  });
});
