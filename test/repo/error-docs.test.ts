// docs/ERRORS.md and the Python SDK's reason table are generated from src/core/errors.ts by
// scripts/write-error-docs.ts; these tests fail when either is stale or disagrees with errorTable.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Code, errorTable } from "../../src/core/errors";
import { generatedFiles } from "../../scripts/write-error-docs";

const ROOT = path.resolve(__dirname, "..", "..");

describe("error documentation", () => {
  it("docs/ERRORS.md lists every reason with its gRPC code and HTTP status, and nothing else", () => {
    const doc = fs.readFileSync(path.resolve(__dirname, "..", "..", "docs", "ERRORS.md"), "utf8");
    const rows = [...doc.matchAll(/^\|\s*`([A-Z_]+)`\s*\|\s*`([A-Z_]+)`\s*\|\s*(\d{3})\s*\|/gm)].map((m) => ({ reason: m[1]!, grpc: m[2]!, http: Number(m[3]) }));
    const expected = Object.entries(errorTable).map(([reason, info]) => ({ reason, grpc: Code[info.code]!, http: info.http }));
    assert.deepEqual(rows.sort((a, b) => a.reason.localeCompare(b.reason)), expected.sort((a, b) => a.reason.localeCompare(b.reason)));
  });

  for (const [rel, render] of Object.entries(generatedFiles)) {
    it(`${rel} is what scripts/write-error-docs.ts writes now`, () => {
      const committed = fs.readFileSync(path.join(ROOT, rel), "utf8");
      assert.ok(committed === render(), `${rel} is stale: run \`npx tsx scripts/write-error-docs.ts\` and commit`);
    });
  }

  it("the Python table carries every reason with its code, status and retryable flag", () => {
    const py = fs.readFileSync(path.join(ROOT, "clients", "python", "dream", "_reasons.py"), "utf8");
    const rows = [...py.matchAll(/^ {4}"([A-Z_]+)": ReasonInfo\("([A-Z_]+)", (\d+), (\d{3}), (True|False),/gm)].map((m) => ({
      reason: m[1]!, grpc: m[2]!, status: Number(m[3]), http: Number(m[4]), retryable: m[5] === "True",
    }));
    const expected = Object.entries(errorTable).map(([reason, info]) => ({ reason, grpc: Code[info.code]!, status: info.code as number, http: info.http as number, retryable: info.retryable as boolean }));
    assert.deepEqual(rows, expected);
  });
});
