// Backends are imported in exactly one folder each: pg and PGlite only under src/billing/ledger/,
// ioredis only under src/billing/redis/ (the rate limiter included: it uses that folder's factory).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

const ROOT = path.join(__dirname, "..", "..");
const OWN = ["src/billing", "src/cli.ts", "bench/billing.ts"];
const SKIP = ["src/billing/stripe"];

function files(p: string): string[] {
  const abs = path.join(ROOT, p);
  if (!fs.existsSync(abs)) return [];
  if (fs.statSync(abs).isFile()) return [p];
  return fs.readdirSync(abs).flatMap((e) => (SKIP.includes(path.posix.join(p, e)) ? [] : files(path.posix.join(p, e))));
}

function imports(file: string): string[] {
  const src = fs.readFileSync(path.join(ROOT, file), "utf8");
  return [...src.matchAll(/(?:from\s+|require\(|import\()\s*["']([^"']+)["']/g)].map((m) => m[1]!);
}

describe("billing/boundaries", function () {
  const all = OWN.flatMap(files).filter((f) => f.endsWith(".ts"));

  it("imports pg and PGlite only in src/billing/ledger/", () => {
    const offenders = all.filter((f) => !f.startsWith("src/billing/ledger/") && imports(f).some((m) => m === "pg" || m.startsWith("@electric-sql/pglite")));
    assert.deepEqual(offenders, []);
  });

  it("imports ioredis only in src/billing/redis/", () => {
    const offenders = all.filter((f) => !f.startsWith("src/billing/redis/") && imports(f).some((m) => m === "ioredis"));
    assert.deepEqual(offenders, []);
  });

  it("keeps core free of billing", () => {
    const core = files("src/core").filter((f) => f.endsWith(".ts"));
    assert.deepEqual(core.filter((f) => imports(f).some((m) => m.includes("billing"))), []);
  });
});
