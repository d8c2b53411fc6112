// What a new user runs first: `npm ci` on any platform, and one test file on its own.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

/** Where npm would find `name` required from the package at `from` (a lock key, "" for the root). */
function resolveInLock(packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  for (let dir = from; ; ) {
    const key = `${dir === "" ? "" : `${dir}/`}node_modules/${name}`;
    if (packages[key]) return key;
    if (dir === "") return undefined;
    const i = dir.lastIndexOf("/node_modules/");
    dir = i < 0 ? "" : dir.slice(0, i);
  }
}

describe("repo tooling", () => {
  it("package-lock.json lists every optional dependency of every locked package, for all platforms (npm ci accepts it)", () => {
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as { lockfileVersion: number; packages: Record<string, LockEntry> };
    assert.equal(lock.lockfileVersion, 3);
    const missing: string[] = [];
    let optionalSeen = 0;
    for (const [key, entry] of Object.entries(lock.packages)) {
      for (const name of Object.keys(entry.optionalDependencies ?? {})) {
        optionalSeen++;
        if (!resolveInLock(lock.packages, key, name)) missing.push(`${key || "(root)"} → ${name}`);
      }
    }
    assert.ok(optionalSeen > 0, "expected optional platform packages (e.g. @bufbuild/buf's) in the lock");
    assert.deepEqual(missing, [], "run `npm install` with npm ≥ 11 and commit package-lock.json");
  });

  it("the mocha config names no spec, so a file named on the command line runs alone", () => {
    const config = require(path.join(ROOT, ".mocharc.js")) as Record<string, unknown>;
    assert.equal(config.spec, undefined);
    const out = execFileSync(process.execPath, [path.join(ROOT, "node_modules", "mocha", "bin", "mocha.js"), "--dry-run", "--reporter", "json", "test/scheduler/plan.test.ts"], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    const report = JSON.parse(out.slice(out.indexOf("{"))) as { tests: { file: string }[] };
    assert.ok(report.tests.length > 0);
    const files = new Set(report.tests.map((t) => path.relative(ROOT, t.file)));
    assert.deepEqual([...files], [path.join("test", "scheduler", "plan.test.ts")]);
  });

  it("test:unit starts no engine: none of its files imports the e2e harness; test:e2e is test/e2e", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts.test, 'mocha "test/**/*.test.ts"');
    assert.equal(pkg.scripts["test:e2e"], 'mocha "test/e2e/**/*.test.ts"');
    const unit = /^env -u REDIS_URL -u DATABASE_URL mocha "test\/\{([a-z,]+)\}\/\*\*\/\*\.test\.ts"((?: --ignore \S+)*)$/.exec(pkg.scripts["test:unit"] ?? "");
    assert.ok(unit, `unexpected test:unit script: ${pkg.scripts["test:unit"]}`);
    const ignored = new Set(unit[2]!.split(" --ignore ").filter(Boolean));
    const walk = (dir: string): string[] =>
      fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(path.join(dir, d.name)) : d.name.endsWith(".test.ts") ? [path.join(dir, d.name)] : []));
    const files = unit[1]!
      .split(",")
      .filter((f) => fs.existsSync(path.join(ROOT, "test", f)))
      .flatMap((f) => walk(path.join(ROOT, "test", f)))
      .map((f) => path.relative(ROOT, f).split(path.sep).join("/"))
      .filter((f) => !ignored.has(f));
    assert.ok(files.length > 10, `only ${files.length} unit files`);
    const startsEngine = files.filter((f) => /from "(\.\.\/)+e2e\/harness"/.test(fs.readFileSync(path.join(ROOT, f), "utf8")));
    assert.deepEqual(startsEngine, [], "these start the engine: add them to test:unit's --ignore (they still run under npm test)");
    for (const f of ignored) assert.ok(fs.existsSync(path.join(ROOT, f)), `test:unit ignores ${f}, which does not exist`);
  });
});
