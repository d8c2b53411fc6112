// DREAM_GRPC_MAX_CONNECTION_AGE_MS: the server recycles client connections (GOAWAY after the age) so
// clients behind a headless Service re-resolve DNS and reach new pods; calls keep working across it.
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { startHarness, type Harness } from "./harness";

describe("e2e: gRPC connections are recycled after DREAM_GRPC_MAX_CONNECTION_AGE_MS", function () {
  this.timeout(60_000);
  let h: Harness;
  before(async () => {
    h = await startHarness({ DREAM_GRPC_MAX_CONNECTION_AGE_MS: "400" });
  });
  after(() => h?.stop());

  it("the connection leaves READY after the age; the next call reconnects and succeeds", async () => {
    const channel = h.client.models.getChannel();
    assert.ok((await h.client.listModels()).length > 0);
    assert.equal(channel.getConnectivityState(false), grpc.connectivityState.READY);
    const deadline = Date.now() + 5_000;
    while (channel.getConnectivityState(false) === grpc.connectivityState.READY && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.notEqual(channel.getConnectivityState(false), grpc.connectivityState.READY, "the server sent GOAWAY");
    assert.ok((await h.client.listModels()).length > 0);
  });
});
