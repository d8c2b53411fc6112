// The Python SDK's streaming (model.stream over REST stream_predict) and cancel against the real
// server: runs test/e2e/sdk_stream_e2e.py and checks the facts it prints.
import assert from "node:assert/strict";
import path from "node:path";
import { runChild, startHarness, type Harness } from "./harness";

describe("e2e: Python SDK streaming and cancel against the real server", function () {
  this.timeout(300_000);
  let h: Harness;

  before(async () => {
    h = await startHarness({}, 10);
  });
  after(async () => h?.stop());

  it("model.stream yields every chunk's raw frames then the summary; cancel of a finished request is 404 NOT_FOUND", async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONDONTWRITEBYTECODE: "1", DREAM_BASE_URL: h.httpBase, DREAM_API_KEY: h.apiKey, DREAM_ENGINE_API_KEY: "" };
    const { code, stdout, stderr } = await runChild("python3", [path.join("test", "e2e", "sdk_stream_e2e.py")], env);
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
