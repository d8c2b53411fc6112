// @dream-engine/client as a user gets it: built, `npm pack`ed, installed from the tarball into a
// scratch project outside the repository, and required from plain CommonJS, which runs a Predict and a
// StreamPredict against a real engine (the e2e harness, in this process). The tarball must carry the
// compiled client with the generated code and wire module it needs, and none of the server.
//
// The install resolves the package's dependencies (grpc-js, @bufbuild/protobuf) from the npm cache the
// root `npm ci` filled: `--offline` first; when the cache lacks registry metadata (npm ci caches
// tarballs, not always the packuments), `--prefer-offline`, which may ask the registry for metadata
// but takes every tarball it has from the cache.
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startHarness, type Harness } from "../e2e/harness";
import { builtClientMain, PACKAGE_DIR } from "./built-client";

const SCRIPT = String.raw`
const { DreamClient, packActions, FrameEncoding } = require("@dream-engine/client");
const T = 12, D = 384, H = 48, W = 64;
(async () => {
  const client = new DreamClient({ address: process.env.DREAM_ADDRESS, apiKey: process.env.DREAM_API_KEY });
  const startFrame = { encoding: FrameEncoding.RAW_RGB8, data: new Uint8Array(H * W * 3).fill(90), height: H, width: W };
  const actions = packActions(new Float32Array(T * D).fill(0.1), T, D);
  const { response } = await client.predict({ model: "dream-reference-tiny", startFrame, actions, params: { numSteps: 4, seed: 1 } });
  const kinds = [];
  for await (const e of client.streamPredict({ model: "dream-reference-tiny", startFrame, candidates: [actions], params: { numSteps: 4, seed: 1 } })) kinds.push(e.kind);
  client.close();
  process.stdout.write(JSON.stringify({
    frameBytes: response.rollout.frames.map((f) => f.byteLength),
    summaryFrames: response.summary.frames,
    costMicros: response.summary.cost.micros,
    streamKinds: kinds,
  }));
})().catch((err) => {
  process.stderr.write(String(err && err.stack || err));
  process.exit(1);
});
`;

function npmInstall(dir: string, tarball: string): void {
  const args = ["install", tarball, "--no-audit", "--no-fund", "--ignore-scripts", "--no-package-lock"];
  const offline = spawnSync("npm", [...args, "--offline"], { cwd: dir, encoding: "utf8" });
  if (offline.status === 0) return;
  const preferOffline = spawnSync("npm", [...args, "--prefer-offline"], { cwd: dir, encoding: "utf8" });
  assert.equal(preferOffline.status, 0, `npm install of the tarball failed (offline, then prefer-offline):\n${offline.stderr}\n${preferOffline.stderr}`);
}

describe("TS client: the packed package", function () {
  this.timeout(300_000);
  let h: Harness;
  let scratch: string;
  let tarball: string;

  before(async () => {
    builtClientMain();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "dream-client-pack-"));
    const packed = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", scratch], { cwd: PACKAGE_DIR, encoding: "utf8" })) as Array<{ filename: string }>;
    tarball = path.join(scratch, packed[0]!.filename);
    h = await startHarness();
  });
  after(async () => {
    await h?.stop();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it("ships the compiled client, generated code and wire module, and nothing of the server or the tests", () => {
    const entries = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).split("\n").filter(Boolean);
    const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_DIR, "package.json"), "utf8")) as { main: string; types: string };
    for (const must of [pkg.main, pkg.types, "dist/src/wire/status-details.js", "dist/src/wire/retryable-reasons.js", "dist/src/gen/dream/v1/dream.js", "package.json", "README.md"]) {
      assert.ok(entries.includes(`package/${must}`), `${must} is in the tarball`);
    }
    const forbidden = entries.filter((e) => /(^|\/)src\/(transport|core|service|app|billing)\//.test(e) || /(^|\/)test\//.test(e) || (e.endsWith(".ts") && !e.endsWith(".d.ts")));
    assert.deepEqual(forbidden, []);
  });

  it("installs from the tarball and, from plain CommonJS, predicts against a real engine", async () => {
    const app = path.join(scratch, "app");
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "scratch", version: "0.0.0", private: true }));
    npmInstall(app, tarball);
    const grpcVersion = (JSON.parse(fs.readFileSync(path.join(app, "node_modules", "@grpc", "grpc-js", "package.json"), "utf8")) as { version: string }).version;
    assert.equal(grpcVersion, "1.14.7", "the exact grpc-js the warm-receive patch was written against");
    fs.writeFileSync(path.join(app, "run.cjs"), SCRIPT);
    // Async, so this process's engine keeps serving while the child calls it.
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ["run.cjs"], { cwd: app, env: { PATH: process.env.PATH, DREAM_ADDRESS: h.grpcAddress, DREAM_API_KEY: h.apiKey } });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d));
      child.stderr.on("data", (d: Buffer) => (stderr += d));
      child.on("exit", (code) => (code === 0 ? resolve(stdout) : reject(new Error(`run.cjs exited ${code}: ${stderr}`))));
    });
    const r = JSON.parse(out) as { frameBytes: number[]; summaryFrames: number; costMicros: number; streamKinds: string[] };
    assert.deepEqual(r.frameBytes, new Array(13).fill(48 * 64 * 3), "T + 1 raw 48x64 frames");
    assert.equal(r.summaryFrames, 13);
    assert.ok(r.costMicros > 0, "the summary carries the charge");
    assert.deepEqual(r.streamKinds, ["chunk", "summary"]);
  });
});
