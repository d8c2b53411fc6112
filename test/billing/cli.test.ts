// The operator CLI end to end on embedded defaults (a temp DREAM_DATA_DIR, no DATABASE_URL/REDIS_URL):
// the documented first step gives a working key with credits.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { FakeClock } from "../../src/core/clock";
import { createBilling } from "../../src/billing";
import { openLedger } from "../../src/billing/ledger/open";
import { runCli } from "./helpers/cli";

function cli(dataDir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, DREAM_DATA_DIR: dataDir };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  return runCli(env, ...args);
}

describe("billing/cli (embedded defaults)", function () {
  let dataDir: string;
  before(() => (dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-cli-"))));
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("keys create --name me --credits 5 prints a working key once, with $5 of credits", async () => {
    const created = await cli(dataDir, "keys", "create", "--name", "me", "--credits", "5", "--json");
    assert.equal(created.code, 0, created.stderr);
    const k = JSON.parse(created.stdout) as { key: string; key_id: string; customer_id: string; credits_micros: number };
    assert.match(k.key, /^dre_[a-z2-7]{43}$/);
    assert.equal(k.credits_micros, 5_000_000);

    const listed = await cli(dataDir, "keys", "list");
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(listed.stdout.includes(k.key_id) && !listed.stdout.includes(k.key));

    // What the server does with it: same data dir, same key.
    const billing = await createBilling({ dataDir, holdTtlMs: 60_000, clock: new FakeClock(), sweepIntervalMs: 0, reconcileIntervalMs: 0 });
    try {
      await billing.start();
      const account = await billing.authenticate(k.key);
      assert.equal(account.customerId, k.customer_id);
      assert.equal((await billing.balance(account.customerId)).balanceMicros, 5_000_000);
    } finally {
      await billing.close();
    }

    const reconciled = await cli(dataDir, "ledger", "reconcile");
    assert.equal(reconciled.code, 0, reconciled.stderr);
    assert.match(reconciled.stdout, /ledger checks: ok[\s\S]*OK\s*$/);
  });

  it("says to stop the server when the embedded ledger is open elsewhere", async () => {
    const held = await openLedger({ dataDir });
    try {
      const r = await cli(dataDir, "keys", "list");
      assert.equal(r.code, 1);
      assert.match(r.stderr, /open in another process \(pid \d+\).*Stop that process/);
    } finally {
      await held.close();
    }
  });

  it("explains usage errors", async () => {
    const r = await cli(dataDir, "keys", "create");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--name is required/);
  });

  it("--version prints package.json's version and opens no ledger (answers while the data dir is busy)", async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")) as { version: string };
    const held = await openLedger({ dataDir });
    try {
      const r = await cli(dataDir, "--version");
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${pkg.version}\n`);
      assert.equal(r.stderr, "");
    } finally {
      await held.close();
    }
  });
});
