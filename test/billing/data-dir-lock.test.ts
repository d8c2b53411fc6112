// The embedded ledger's directory lock: one holder per directory, a stale lock is taken over, and a
// released lock leaves nothing behind (not the file, not its process exit listener).
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DataDirBusyError, lockDataDir } from "../../src/billing/ledger/data-dir-lock";

describe("ledger data-dir lock", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "dream-lock-"));
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it("refuses a second holder, and released locks leave no file and no exit listener behind", () => {
    const dir = path.join(root, "ledger");
    const listeners = process.listenerCount("exit");
    for (let i = 0; i < 15; i++) {
      const lock = lockDataDir(dir);
      assert.throws(() => lockDataDir(dir), DataDirBusyError);
      lock.release();
      lock.release(); // twice is harmless
      assert.equal(fs.existsSync(`${dir}.lock`), false);
    }
    assert.equal(process.listenerCount("exit"), listeners);
  });

  it("takes over a lock whose process is gone", () => {
    const dir = path.join(root, "stale");
    fs.writeFileSync(`${dir}.lock`, "2147483646\n"); // no such pid
    const lock = lockDataDir(dir);
    assert.equal(fs.readFileSync(`${dir}.lock`, "utf8").trim(), String(process.pid));
    lock.release();
  });
});
