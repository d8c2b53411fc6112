// The operator CLI against a running server on embedded defaults: the real app in a temp data dir,
// the real CLI (bin/dream-engine.js) as a child process. While the server holds the embedded ledger,
// every command goes over <dataDir>/admin.sock and takes effect in the server at once; with no server
// (or only a crash's stale socket) the CLI opens the ledger itself and prints the same stdout.
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { startApp, type App } from "../../src/app/app";
import { SOCKET_FILE, TOKEN_FILE } from "../../src/app/admin/protocol";
import { ConfigError, loadConfig } from "../../src/config/config";
import { limits } from "../../src/core/limits";
import { silentLogger } from "../../src/observability/logger";
import { runCli } from "./helpers/cli";

interface Created {
  key: string;
  key_id: string;
  customer_id: string;
  credits_micros: number;
}

function cli(dataDir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, DREAM_DATA_DIR: dataDir };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  return runCli(env, ...args);
}

/** No model: these tests need the billing routes only, and start in well under a second. */
async function startServer(dataDir: string, env: Record<string, string> = {}): Promise<App> {
  const config = loadConfig({
    DREAM_GRPC_ADDR: "127.0.0.1:0",
    DREAM_HTTP_ADDR: "127.0.0.1:0",
    DREAM_DATA_DIR: dataDir,
    DREAM_MODELS: "no-model-here",
    DREAM_STARTER_CREDITS_USD: "0",
    DREAM_SHUTDOWN_GRACE_MS: "0",
    ...env,
  });
  return startApp(config, { logger: silentLogger });
}

/** One raw request on the admin socket, as an attacker or a broken client would send it. */
function adminRequest(socketPath: string, method: string, urlPath: string, headers: Record<string, string>, body?: string | Buffer): Promise<{ status: number; body: { error?: { code: string; reason: string; message: string; request_id: string; field?: string } } }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: urlPath, headers, agent: false }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.once("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    // The server may answer (401, 413) and close before taking the whole body.
    req.once("error", (err: NodeJS.ErrnoException) => (err.code === "EPIPE" || err.code === "ECONNRESET" ? undefined : reject(err)));
    req.end(body);
  });
}

/** A socket file nobody listens on, as a SIGKILLed server leaves it. */
async function staleSocket(file: string): Promise<void> {
  const bound = `${file}.bound`;
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(bound, r));
  fs.renameSync(bound, file); // closing unlinks the bound name only, so `file` stays, dead
  await new Promise<void>((r) => server.close(() => r()));
  assert.ok(fs.statSync(file).isSocket());
}

const mode = (file: string): number => fs.statSync(file).mode & 0o777;

describe("billing/cli-admin: the CLI reaches a running embedded server", function () {
  this.timeout(60_000);
  let dataDir: string;
  let app: App | undefined;
  let base: string;
  const balanceOf = async (rawKey: string): Promise<{ status: number; micros?: number }> => {
    const res = await fetch(`${base}/v1/billing/balance`, { headers: { authorization: `Bearer ${rawKey}` } });
    const body = (await res.json()) as { balance_micros?: number };
    return { status: res.status, micros: body.balance_micros };
  };

  beforeEach(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-cli-admin-"));
    app = await startServer(dataDir);
    base = `http://127.0.0.1:${app.httpPort}`;
  });
  afterEach(async () => {
    await app?.shutdown();
    app = undefined;
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("keys create, credits grant and keys revoke take effect in the running server at once", async () => {
    const created = await cli(dataDir, "keys", "create", "--name", "live", "--credits", "5", "--json");
    assert.equal(created.code, 0, created.stderr);
    assert.equal(created.stderr, "", "--json: no note on stderr either");
    const k = JSON.parse(created.stdout) as Created;
    assert.match(k.key, /^dre_[a-z2-7]{43}$/);
    assert.deepEqual(await balanceOf(k.key), { status: 200, micros: 5_000_000 });

    const granted = await cli(dataDir, "credits", "grant", k.customer_id, "2.5");
    assert.equal(granted.code, 0, granted.stderr);
    assert.equal(granted.stdout, `Granted $2.5 to ${k.customer_id}; balance $7.5.\n`);
    assert.equal(granted.stderr, `(via the running server at ${path.join(dataDir, SOCKET_FILE)})\n`);
    assert.deepEqual(await balanceOf(k.key), { status: 200, micros: 7_500_000 });

    const revoked = await cli(dataDir, "keys", "revoke", k.key_id);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal((await balanceOf(k.key)).status, 403, "refused at once: the server's own cache was evicted");
  });

  it("prints the same stdout (text and --json) through the server as directly, errors included", async () => {
    const k = JSON.parse((await cli(dataDir, "keys", "create", "--name", "same", "--credits", "1", "--json")).stdout) as Created;
    const commands = [
      ["keys", "list", "--json"],
      ["keys", "list"],
      ["credits", "balance", k.customer_id, "--json"],
      ["credits", "balance", k.customer_id],
      ["keys", "revoke", "key_nope"], // NOT_FOUND from the facade, through the error body and back
    ];
    const viaServer = await Promise.all(commands.map((c) => cli(dataDir, ...c)));
    await app!.shutdown();
    app = undefined;
    assert.deepEqual(fs.readdirSync(dataDir).filter((f) => f.startsWith("admin.")), [], "socket and token removed at shutdown");
    for (const [i, c] of commands.entries()) {
      const direct = await cli(dataDir, ...c);
      assert.equal(viaServer[i]!.stdout, direct.stdout, c.join(" "));
      assert.equal(viaServer[i]!.code, direct.code, c.join(" "));
      assert.doesNotMatch(direct.stderr, /via the running server/);
    }
    assert.equal(viaServer[4]!.code, 1);
    assert.match(viaServer[4]!.stderr, /error: no API key key_nope/);
  });

  it("socket and token are 0600; a wrong or missing token is 401 before the body is read, and changes nothing", async () => {
    const socketPath = path.join(dataDir, SOCKET_FILE);
    assert.equal(mode(socketPath), 0o600);
    assert.equal(mode(path.join(dataDir, TOKEN_FILE)), 0o600);
    const token = fs.readFileSync(path.join(dataDir, TOKEN_FILE), "utf8").trim();
    assert.match(token, /^[0-9a-f]{64}$/);
    const k = await app!.billing.createKey({ name: "victim", creditsMicros: 1_000_000 });
    const grant = JSON.stringify({ customerId: k.customerId, amountMicros: 9_000_000, idempotencyKey: "attack" });
    const json = { "content-type": "application/json" };
    const wrong: Record<string, string>[] = [{}, { authorization: `Bearer ${"0".repeat(64)}` }, { authorization: `Bearer ${token}x` }, { authorization: token }];
    for (const auth of wrong) {
      const r = await adminRequest(socketPath, "POST", "/admin/credits/grant", { ...json, ...auth }, grant);
      assert.equal(r.status, 401, JSON.stringify(auth));
      assert.equal(r.body.error?.reason, "UNAUTHENTICATED");
      assert.equal(r.body.error?.code, "unauthenticated");
      assert.match(r.body.error?.request_id ?? "", /^admin_/);
    }
    // Unauthenticated and oversized: the token decides first (401, not 413).
    const huge = Buffer.alloc(limits.adminBodyBytesMax + 1, 0x20);
    assert.equal((await adminRequest(socketPath, "POST", "/admin/credits/grant", json, huge)).status, 401);
    assert.equal((await app!.billing.balance(k.customerId)).balanceMicros, 1_000_000, "nothing was granted");

    const bearer = { ...json, authorization: `Bearer ${token}` };
    assert.equal((await adminRequest(socketPath, "POST", "/admin/credits/grant", bearer, huge)).status, 413);
    const badField = await adminRequest(socketPath, "POST", "/admin/credits/grant", bearer, JSON.stringify({ customerId: k.customerId, amountMicros: "9", idempotencyKey: "x" }));
    assert.equal(badField.status, 400);
    assert.equal(badField.body.error?.field, "amountMicros");
    assert.equal((await adminRequest(socketPath, "POST", "/admin/nothing", bearer, "{}")).status, 404);
    assert.equal((await adminRequest(socketPath, "DELETE", "/admin/keys", bearer)).status, 405);
    const ok = await adminRequest(socketPath, "POST", "/admin/credits/grant", bearer, JSON.stringify({ customerId: k.customerId, amountMicros: 1, idempotencyKey: "right-token" }));
    assert.equal(ok.status, 200);
    assert.equal((await app!.billing.balance(k.customerId)).balanceMicros, 1_000_001);
  });
});

describe("billing/cli-admin: stale sockets and the off switch", function () {
  this.timeout(60_000);
  let dataDir: string;
  beforeEach(() => (dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-cli-stale-"))));
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("a crash's stale socket: the CLI goes direct, and the next server replaces it", async () => {
    const socketPath = path.join(dataDir, SOCKET_FILE);
    await staleSocket(socketPath);
    fs.writeFileSync(path.join(dataDir, TOKEN_FILE), "left-by-the-crash\n", { mode: 0o600 });
    const direct = await cli(dataDir, "keys", "create", "--name", "offline", "--json");
    assert.equal(direct.code, 0, direct.stderr);

    const app = await startServer(dataDir);
    try {
      assert.notEqual(fs.readFileSync(path.join(dataDir, TOKEN_FILE), "utf8").trim(), "left-by-the-crash");
      const listed = await cli(dataDir, "keys", "list");
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stderr, /via the running server/);
      assert.match(listed.stdout, new RegExp((JSON.parse(direct.stdout) as Created).key_id));
    } finally {
      await app.shutdown();
    }
  });

  it("DREAM_ADMIN_SOCKET=off serves no socket, so the CLI says the data dir is busy, as before", async () => {
    assert.throws(() => loadConfig({ DREAM_ADMIN_SOCKET: "maybe" }), ConfigError);
    const app = await startServer(dataDir, { DREAM_ADMIN_SOCKET: "off" });
    try {
      assert.equal(fs.existsSync(path.join(dataDir, SOCKET_FILE)), false);
      const r = await cli(dataDir, "keys", "list");
      assert.equal(r.code, 1);
      assert.match(r.stderr, /open in another process \(pid \d+\).*Stop that process/);
    } finally {
      await app.shutdown();
    }
  });
});
