// Holds the dependency direction of ARCHITECTURE.md: core imports nothing else from src/; scheduler
// never imports gpu/ or transports; each backend package is imported from exactly one folder; clients/
// is in the graph too.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");

function tsFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? tsFiles(p) : p.endsWith(".ts") ? [p] : [];
  });
}

function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, "utf8");
  const specs: string[] = [];
  // Side-effect imports (`import "x";`) count too: they load a backend as surely as a named import.
  for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+["']([^"']+)["']|require\(\s*["']([^"']+)["']\s*\)|import\(\s*["']([^"']+)["']\s*\)|^\s*import\s+["']([^"']+)["']/gm)) {
    specs.push((m[1] ?? m[2] ?? m[3] ?? m[4])!);
  }
  return specs;
}

/** Repo-relative folder of a relative import, or the package name of a bare one. */
function target(file: string, spec: string): string {
  if (!spec.startsWith(".")) return spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!;
  return path.relative(ROOT, path.resolve(path.dirname(file), spec));
}

const sources = [...tsFiles(path.join(ROOT, "src")), ...tsFiles(path.join(ROOT, "gpu")), ...tsFiles(path.join(ROOT, "clients"))].filter(
  (f) => !f.includes(`${path.sep}gen${path.sep}`) && !f.includes(`${path.sep}node_modules${path.sep}`),
);
const edges = sources.flatMap((f) => importsOf(f).map((s) => ({ from: path.relative(ROOT, f), to: target(f, s) })));

describe("import graph", () => {
  it("has sources to check", () => assert.ok(edges.length > 50, `only ${edges.length} import edges found`));

  it("src/core imports nothing else from the project", () => {
    const bad = edges.filter((e) => e.from.startsWith("src/core/") && (e.to.startsWith("src/") || e.to.startsWith("gpu")) && !e.to.startsWith("src/core"));
    assert.deepEqual(bad, []);
  });

  it("src/scheduler imports only core and itself", () => {
    const bad = edges.filter((e) => e.from.startsWith("src/scheduler/") && (e.to.startsWith("src/") || e.to.startsWith("gpu")) && !e.to.startsWith("src/core") && !e.to.startsWith("src/scheduler"));
    assert.deepEqual(bad, []);
  });

  it("src/observability imports only core and itself (service/ feeds it through interfaces)", () => {
    const bad = edges.filter((e) => e.from.startsWith("src/observability/") && (e.to.startsWith("src/") || e.to.startsWith("gpu")) && !e.to.startsWith("src/core") && !e.to.startsWith("src/observability"));
    assert.deepEqual(bad, []);
  });

  it("gpu/ imports only core, the Executor types and the catalog types from src/", () => {
    const allowed = ["src/core", "src/scheduler/executor", "src/config/catalog"];
    const bad = edges.filter((e) => e.from.startsWith("gpu/") && e.to.startsWith("src/") && !allowed.some((a) => e.to.startsWith(a)));
    assert.deepEqual(bad, []);
  });

  it("service/ does not import transports, gpu or backends", () => {
    const bad = edges.filter((e) => e.from.startsWith("src/service/") && (e.to.startsWith("src/transport") || e.to.startsWith("gpu") || e.to.startsWith("src/app") || ["pg", "ioredis", "stripe", "onnxruntime-node", "@electric-sql/pglite"].includes(e.to)));
    assert.deepEqual(bad, []);
  });

  it("src/planning is pure: it imports only core (no engine, transport, backend or I/O module)", () => {
    const fromPlanning = edges.filter((e) => e.from.startsWith("src/planning/"));
    assert.ok(fromPlanning.some((e) => e.to.startsWith("src/planning/")), "src/planning's imports were not seen");
    assert.deepEqual(fromPlanning.filter((e) => !e.to.startsWith("src/planning/") && !e.to.startsWith("src/core/")), []);
  });

  it("src/quality is pure: it imports only core (the metrics run in tests, benches and the server alike)", () => {
    const fromQuality = edges.filter((e) => e.from.startsWith("src/quality/"));
    assert.ok(fromQuality.some((e) => e.to.startsWith("src/quality/")), "src/quality's imports were not seen");
    assert.deepEqual(fromQuality.filter((e) => !e.to.startsWith("src/quality/") && !e.to.startsWith("src/core/")), []);
  });

  it("src/wire imports nothing from src/ but generated code (the TS client package ships it)", () => {
    const fromWire = edges.filter((e) => e.from.startsWith("src/wire/"));
    assert.ok(fromWire.some((e) => e.to.startsWith("src/gen/")), "src/wire's imports were not seen");
    assert.deepEqual(fromWire.filter((e) => !e.to.startsWith("src/gen/") && !e.to.startsWith("src/wire/")), []);
  });

  it("clients/typescript imports from src/ only generated code, and the shared wire module", () => {
    const allowed = ["src/gen/", "src/wire/"];
    const fromClient = edges.filter((e) => e.from.startsWith("clients/typescript/") && e.to.startsWith("src/"));
    assert.ok(fromClient.some((e) => e.to.startsWith("src/gen/")), "the client's imports of generated code were not seen");
    assert.deepEqual(fromClient.filter((e) => !allowed.some((a) => e.to.startsWith(a))), []);
  });

  const backends: Record<string, string[]> = {
    "onnxruntime-node": ["gpu/"],
    stripe: ["src/billing/stripe/"],
    pg: ["src/billing/ledger/"],
    "@electric-sql/pglite": ["src/billing/ledger/"],
    ioredis: ["src/billing/redis/"],
    sharp: ["src/codec/", "gpu/tools/"], // gpu/tools: dev-only frame dumps for eyeballing the reference models
    "@ffmpeg-installer/ffmpeg": ["src/codec/"],
    koffi: ["src/codec/"], // FFI into sharp's own libvips (vips-native.ts)
  };
  for (const [pkg, folders] of Object.entries(backends)) {
    it(`${pkg} is imported only under ${folders.join(" or ")}`, () => {
      const bad = edges.filter((e) => e.to === pkg && !folders.some((f) => e.from.startsWith(f)));
      assert.deepEqual(bad, []);
      // Strict: the owning folder really imports it, so a parser that misses this import style (or a
      // package moved elsewhere under another name) cannot make the rule pass by seeing nothing.
      assert.ok(edges.some((e) => e.to === pkg && e.from.startsWith(folders[0]!)), `no import of ${pkg} found under ${folders[0]}`);
    });
  }
});
