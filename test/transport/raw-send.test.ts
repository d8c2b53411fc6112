// Raw PredictBatch responses through the real gRPC server (stub method table, see fixtures/raw-server.ts): with
// the pre-framed send on they leave from their arena and the arena is reused once sent; with it off
// (DREAM_GRPC_PREFRAMED=off, a child process, since the patch is per process) grpc-js is not patched at
// all and the same responses still arrive byte for byte.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { preframedSendCount } from "../../src/transport/grpc/raw/preframed-send";
import { rawArenaCounters } from "../../src/transport/grpc/raw/raw-arena";
import { callPredictBatch, expectedDecoded, startRawServer } from "./fixtures/raw-server";

const until = async (ok: () => boolean, ms = 5000) => {
  for (const end = Date.now() + ms; !ok(); ) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe("raw responses through the gRPC server", () => {
  it("pre-framed send on (the default): sent from the arena, which the next response reuses once the bytes left", async () => {
    const { server, client } = await startRawServer();
    try {
      const sent0 = preframedSendCount();
      const released0 = rawArenaCounters().released;
      assert.deepEqual(await callPredictBatch(client), expectedDecoded());
      assert.equal(preframedSendCount(), sent0 + 1, "left pre-framed");
      await until(() => rawArenaCounters().released === released0 + 1);
      const reused0 = rawArenaCounters().reused;
      assert.deepEqual(await callPredictBatch(client), expectedDecoded(), "the reused arena's response is exact too");
      assert.equal(rawArenaCounters().reused, reused0 + 1, "the second response reused the first one's arena");
      assert.equal(preframedSendCount(), sent0 + 2);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });

  it("pre-framed send off: grpc-js's serializeMessage is the original, nothing is pre-framed or pooled, responses are exact", async function () {
    this.timeout(60_000);
    const child = path.join(__dirname, "fixtures", "raw-server-off.ts");
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", child], { cwd: path.resolve(__dirname, "..", ".."), timeout: 50_000 });
    const out = JSON.parse(stdout.trim()) as { unpatched: boolean; preframed: number; arenas: { released: number; reused: number }; correct: number };
    assert.deepEqual(out, { unpatched: true, preframed: 0, arenas: { released: 0, reused: 0 }, correct: 2 });
  });

  it("the off switch is per server: a server started with it off after the patch went in still answers exactly", async () => {
    // In this process the patch went in with the first server; a later server with it off keeps no
    // pool (nothing of its own tells it when bytes have left) and still answers exactly.
    const { server, client } = await startRawServer(false);
    try {
      const reused0 = rawArenaCounters().reused;
      for (let i = 0; i < 2; i++) assert.deepEqual(await callPredictBatch(client), expectedDecoded());
      assert.equal(rawArenaCounters().reused, reused0, "no pool without the pre-framed send");
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
