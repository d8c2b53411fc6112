// Generated code is committed; this regenerates it from proto/ into a temp dir and fails on any diff.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");

function listFiles(dir: string, base = dir): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? listFiles(p, base) : [path.relative(base, p)];
  });
}

describe("generated code", () => {
  it("src/gen matches a fresh `buf generate` of proto/", function () {
    this.timeout(120_000);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "dream-gen-"));
    execFileSync(path.join(ROOT, "node_modules", ".bin", "buf"), ["generate", "-o", out], { cwd: ROOT, stdio: "pipe" });
    const fresh = path.join(out, "src", "gen");
    const committed = path.join(ROOT, "src", "gen");
    const freshFiles = listFiles(fresh).sort();
    assert.deepEqual(listFiles(committed).sort(), freshFiles, "generated file set differs: run `npm run gen` and commit");
    for (const f of freshFiles) {
      const a = fs.readFileSync(path.join(committed, f), "utf8");
      const b = fs.readFileSync(path.join(fresh, f), "utf8");
      assert.ok(a === b, `${f} is stale: run \`npm run gen\` and commit`);
    }
    fs.rmSync(out, { recursive: true, force: true });
  });
});
