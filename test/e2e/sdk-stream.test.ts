// The Python SDK's streaming (model.stream over REST stream_predict) and cancel against the real
// server: runs test/e2e/sdk_stream_e2e.py and checks the facts it prints.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { startHarness, type Harness } from "./harness";

const ROOT = path.resolve(__dirname, "..", "..");

describe("e2e: Python SDK streaming and cancel against the real server", function () {
  this.timeout(300_000);
  let h: Harness;

  before(async () => {
    h = await startHarness({}, 10);
  });
  after(async () => h?.stop());

  it("model.stream yields every chunk's raw frames then the summary; cancel of a finished request is 404 NOT_FOUND", async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONDONTWRITEBYTECODE: "1", DREAM_BASE_URL: h.httpBase, DREAM_API_KEY: h.apiKey, DREAM_ENGINE_API_KEY: "" };
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn("python3", [path.join("test", "e2e", "sdk_stream_e2e.py")], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (c: Buffer) => (out += c.toString()));
      child.stderr.on("data", (c: Buffer) => (err += c.toString()));
      child.on("error", reject);
      child.on("close", (c) => resolve({ code: c, stdout: out, stderr: err }));
    });
    assert.equal(code, 0, `sdk_stream_e2e.py failed (exit ${code}):\n${stderr}\n${stdout}`);
    const facts = JSON.parse(stdout.trim().split("\n").pop()!);
    assert.deepEqual(facts.chunks, [0, 1]);
    assert.deepEqual(facts.frames, [25, 25]);
    assert.deepEqual(facts.summary_frames, [25, 25]);
    assert.deepEqual(facts.raw_frame_bytes, [facts.hw[0] * facts.hw[1] * 3]);
    assert.equal(facts.request_id_matches, true);
    assert.equal(facts.cost_micros, 25_000);
    assert.equal(facts.cancel_after_end, "404 NOT_FOUND");
  });
});
