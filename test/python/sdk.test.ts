// Runs the Python SDK's own unittest suite so `npm test` covers it. The suite is stdlib unittest
// against a local fake HTTP server; numpy is used by some tests (it is on every machine here).
// DREAM_FFMPEG points the SDK's optional MP4 decoder at the npm-shipped ffmpeg, so the
// Rollout.frames test runs instead of skipping.

import { strict as assert } from "assert";
import { spawn } from "child_process";
import { join } from "path";

const repoRoot = join(__dirname, "..", "..");

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

describe("Python SDK (clients/python) unittest suite", () => {
  it("python3 -m unittest discover -s clients/python/tests passes", async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONDONTWRITEBYTECODE: "1" };
    try {
      env.DREAM_FFMPEG = (require("@ffmpeg-installer/ffmpeg") as { path: string }).path;
    } catch {
      // no npm ffmpeg: the decode test skips itself
    }
    const { code, output } = await run("python3", ["-m", "unittest", "discover", "-s", "clients/python/tests", "-v"], env);
    assert.equal(code, 0, `Python SDK tests failed (exit ${code}):\n${output}`);
    assert.match(output, /\nOK/, output);
  });
});
