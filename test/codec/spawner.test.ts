// Child processes through the spawner (src/codec/spawner.ts): stdin, stdout and stderr, the exit
// status, backpressure on large streams, kill, a command that cannot start, and a spawner that died.
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { spawnThroughSpawner, stopSpawner, type ChildHandle } from "../../src/codec/spawner";

const collect = (s: NodeJS.ReadableStream): Promise<Buffer> =>
  new Promise((resolve) => {
    const parts: Buffer[] = [];
    s.on("data", (b: Buffer | string) => parts.push(Buffer.from(b)));
    s.on("end", () => resolve(Buffer.concat(parts)));
  });

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("codec/spawner: child processes started by a small helper process", function () {
  this.timeout(30_000);

  it("passes stdin through, returns stdout and stderr apart, and the exit code", async () => {
    const c = spawnThroughSpawner("/bin/sh", ["-c", "cat; echo oops >&2; exit 3"]);
    const out = collect(c.stdout);
    const err = collect(c.stderr);
    c.stdin.write(Buffer.from("hello "));
    c.stdin.write(Buffer.from("world"));
    c.stdin.end();
    const status = await c.exited;
    assert.deepEqual({ code: status.code, signal: status.signal }, { code: 3, signal: null });
    assert.equal((await out).toString(), "hello world");
    assert.equal((await err).toString(), "oops\n");
    assert.equal(c.running(), false);
  });

  it("streams 16 MB each way with backpressure, byte for byte", async () => {
    const data = randomBytes(16 << 20);
    const c = spawnThroughSpawner("/bin/cat", []);
    const out = collect(c.stdout);
    for (let off = 0; off < data.length; off += 1 << 20) {
      if (!c.stdin.write(data.subarray(off, off + (1 << 20)))) await new Promise<void>((r) => c.stdin.once("drain", () => r()));
    }
    c.stdin.end();
    assert.equal((await c.exited).code, 0);
    assert.ok((await out).equals(data));
  });

  it("kill() ends a running child (SIGKILL) and the child is gone", async () => {
    const c: ChildHandle = spawnThroughSpawner("/bin/sleep", ["30"]);
    const pid = await c.pid;
    assert.ok(pid !== undefined && alive(pid));
    c.kill();
    const status = await c.exited;
    assert.equal(status.signal, "SIGKILL");
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(alive(pid), false, "the spawner killed the child when its connection closed");
  });

  it("a command that cannot start is a spawnError, not a hang", async () => {
    const c = spawnThroughSpawner("/nonexistent/ffmpeg", []);
    const status = await c.exited;
    assert.match(status.spawnError?.message ?? "", /ENOENT/);
    assert.equal(await c.pid, undefined);
  });

  it("starts a new spawner when the old one died", async () => {
    const first = spawnThroughSpawner("/bin/true", []);
    assert.equal((await first.exited).code, 0);
    const before = readdirSync(tmpdir()).filter((f) => f.startsWith(`dream-spawner-${process.pid}-`));
    assert.equal(before.length, 1, "one spawner socket while it runs");
    stopSpawner();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(readdirSync(tmpdir()).filter((f) => f.startsWith(`dream-spawner-${process.pid}-`)), [], "its socket file is removed when it stops");
    const again = spawnThroughSpawner("/bin/sh", ["-c", "echo back"]);
    const out = collect(again.stdout);
    assert.equal((await again.exited).code, 0);
    assert.equal((await out).toString(), "back\n");
  });
});
