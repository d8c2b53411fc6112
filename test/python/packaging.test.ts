// The Python SDK as a new user meets it: the README's example names a model the default catalog can
// serve without fetching weights, a setuptools build ships py.typed and the generated reason table,
// and what `pip install ./clients/python` leaves behind is ignored by git.
import { strict as assert } from "assert";
import { execFileSync, spawnSync } from "child_process";
import fs from "fs";
import os from "os";
import path from "path";

const repoRoot = path.join(__dirname, "..", "..");
const sdk = path.join(repoRoot, "clients", "python");

describe("Python SDK packaging", () => {
  it("the README and package docstring examples use models of the default catalog that need no weights", () => {
    const catalog = JSON.parse(fs.readFileSync(path.join(repoRoot, "gpu", "catalog.json"), "utf8")) as { models: { slug: string; reference?: string }[] };
    const texts = [path.join(sdk, "README.md"), path.join(sdk, "dream", "__init__.py")].map((f) => fs.readFileSync(f, "utf8"));
    const slugs = texts.flatMap((t) => [...t.matchAll(/models\.get\("([^"]+)"\)/g)].map((m) => m[1]!));
    assert.ok(slugs.length >= 2, "expected a models.get(\"…\") example in the README and in dream/__init__.py");
    for (const slug of slugs) {
      const entry = catalog.models.find((m) => m.slug === slug);
      assert.ok(entry, `${slug} is not in gpu/catalog.json`);
      assert.ok(entry.reference, `${slug} needs downloaded weights; examples should use a reference model`);
    }
  });

  it("a setuptools build ships py.typed and dream/_reasons.py", function () {
    this.timeout(60_000);
    if (spawnSync("python3", ["-c", "import setuptools"]).status !== 0) this.skip();
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "dream-pysdk-"));
    try {
      fs.cpSync(sdk, path.join(scratch, "src"), { recursive: true });
      const out = path.join(scratch, "out");
      execFileSync("python3", ["-c", "from setuptools import setup; setup()", "-q", "build_py", "--build-lib", out], {
        cwd: path.join(scratch, "src"), stdio: "pipe", env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" },
      });
      for (const f of ["py.typed", "_reasons.py", "__init__.py"]) assert.ok(fs.existsSync(path.join(out, "dream", f)), `the build lacks dream/${f}`);
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  });

  it(".gitignore covers build/, *.egg-info and __pycache__ under clients/python", () => {
    const paths = ["clients/python/build/lib/dream/client.py", "clients/python/dream_engine.egg-info/PKG-INFO", "clients/python/dream/__pycache__/client.cpython-311.pyc"];
    const ignored = execFileSync("git", ["check-ignore", "--no-index", ...paths], { cwd: repoRoot, encoding: "utf8" }).trim().split("\n");
    assert.deepEqual(ignored, paths);
  });
});
