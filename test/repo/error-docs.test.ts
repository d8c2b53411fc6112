// docs/ERRORS.md and src/core/errors.ts must list the same reasons with the same gRPC and HTTP codes.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Code, errorTable } from "../../src/core/errors";

describe("error documentation", () => {
  it("docs/ERRORS.md lists every reason with its gRPC code and HTTP status, and nothing else", () => {
    const doc = fs.readFileSync(path.resolve(__dirname, "..", "..", "docs", "ERRORS.md"), "utf8");
    const rows = [...doc.matchAll(/^\|\s*`([A-Z_]+)`\s*\|\s*`([A-Z_]+)`\s*\|\s*(\d{3})\s*\|/gm)].map((m) => ({ reason: m[1]!, grpc: m[2]!, http: Number(m[3]) }));
    const expected = Object.entries(errorTable).map(([reason, info]) => ({ reason, grpc: Code[info.code]!, http: info.http }));
    assert.deepEqual(rows.sort((a, b) => a.reason.localeCompare(b.reason)), expected.sort((a, b) => a.reason.localeCompare(b.reason)));
  });
});
