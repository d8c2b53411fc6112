// Operator CLI: API keys, credits and ledger checks. Same configuration as the server:
//   DATABASE_URL (unset → embedded ledger under DREAM_DATA_DIR), REDIS_URL (unset → no shared balance
//   store: a running server's in-process one hears of a grant by the ledger's NOTIFY at commit),
//   DREAM_DATA_DIR (./.dream), DREAM_PG_SCHEMA / DREAM_REDIS_PREFIX as the server has them.
// The embedded ledger can be open in one process only, so while a server runs on DREAM_DATA_DIR the
// CLI sends each command to it over its admin socket (src/app/admin); with no server it opens the ledger
// itself. Either way a command is the same code over an OperatorBilling, and prints the same stdout.
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { systemClock } from "./core/clock";
import { ServiceError } from "./core/errors";
import { microsToUsdString } from "./core/money";
import { createBilling, parseUsdToMicros, type BillingService } from "./billing";
import { DataDirBusyError } from "./billing/ledger/data-dir-lock";
import { findRunningServer } from "./app/admin/find-server";
import type { OperatorBilling } from "./app/admin/protocol";

const USAGE = `Usage: dream-engine <command> [options]

  keys create --name NAME [--credits USD] [--customer ID]  create an API key (the key is printed once)
  keys list [--customer ID]                                list keys (never the keys themselves)
  keys revoke KEY_ID                                       revoke a key (403 from then on)
  keys rate-limit KEY_ID --rate PER_S --burst N            set a key's token bucket
  credits grant CUSTOMER USD [--note TEXT] [--idempotency-key K]
  credits balance CUSTOMER
  ledger reconcile [--dry-run]                             check the ledger; compare/repair the balance store

  Add --json to any command for machine-readable output; --version prints the version.

Environment: DATABASE_URL, REDIS_URL, DREAM_DATA_DIR (default ./.dream)
First key on a fresh install:  npx dream-engine keys create --name me --credits 5`;

class UsageError extends Error {}

interface Parsed {
  words: string[];
  flags: Map<string, string | true>;
}

const BOOLEAN_FLAGS = new Set(["json", "dry-run", "help", "version"]);

function parse(argv: string[]): Parsed {
  const words: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-h") flags.set("help", true);
    else if (a.startsWith("--")) {
      const [name, inline] = a.slice(2).split("=", 2) as [string, string | undefined];
      if (BOOLEAN_FLAGS.has(name)) flags.set(name, true);
      else {
        const value = inline ?? argv[++i];
        if (value === undefined) throw new UsageError(`--${name} needs a value`);
        flags.set(name, value);
      }
    } else words.push(a);
  }
  return { words, flags };
}

/** The version in the package.json above this file (src/ when run by tsx, dist/src/ when built). */
function packageVersion(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, "package.json");
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "dream-engine" && typeof pkg.version === "string") return pkg.version;
    }
    if (path.dirname(dir) === dir) throw new Error(`no dream-engine package.json above ${__dirname}`);
  }
}

function flag(p: Parsed, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === "string" ? v : undefined;
}

function required(p: Parsed, name: string): string {
  const v = flag(p, name);
  if (v === undefined) throw new UsageError(`--${name} is required`);
  return v;
}

function positiveInt(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${name} must be a whole number ≥ 1, got ${JSON.stringify(text)}`);
  return n;
}

const usd = (micros: number): string => `$${microsToUsdString(micros)}`;

type Out = (human: string, json: unknown) => void;

async function run(p: Parsed, billing: OperatorBilling, out: Out): Promise<number> {
  const [group, verb, ...rest] = p.words;
  const cmd = `${group ?? ""} ${verb ?? ""}`;
  switch (cmd) {
    case "keys create": {
      const credits = flag(p, "credits");
      const k = await billing.createKey({ name: required(p, "name"), creditsMicros: credits === undefined ? 0 : parseUsdToMicros("credits", credits), customerId: flag(p, "customer") });
      out(
        `Created API key "${required(p, "name")}" (${k.keyId}) for customer ${k.customerId}` +
          (k.creditsMicros > 0 ? ` with ${usd(k.creditsMicros)} of credits` : "") +
          `.\n\n  ${k.rawKey}\n\nThis is the only time the key is shown; the server keeps only its SHA-256.\nUse it with:  export DREAM_API_KEY=${k.rawKey}`,
        { key: k.rawKey, key_id: k.keyId, customer_id: k.customerId, credits_micros: k.creditsMicros },
      );
      return 0;
    }
    case "keys list": {
      const keys = await billing.listKeys(flag(p, "customer"));
      const lines = keys.map((k) => `${k.keyId}  ${k.customerId}  ${k.revokedAt ? `revoked ${k.revokedAt}` : "active"}  ${k.rateLimit.ratePerS}/s burst ${k.rateLimit.burst}  ${k.name}`);
      out(lines.length > 0 ? lines.join("\n") : "No API keys yet. Create one: dream-engine keys create --name me --credits 5", keys);
      return 0;
    }
    case "keys revoke": {
      const keyId = rest[0];
      if (!keyId) throw new UsageError("keys revoke needs a KEY_ID (see keys list)");
      const k = await billing.revokeKey(keyId);
      out(`Revoked ${k.keyId} (${k.name}). Servers refuse it within a few seconds.`, k);
      return 0;
    }
    case "keys rate-limit": {
      const keyId = rest[0];
      if (!keyId) throw new UsageError("keys rate-limit needs a KEY_ID");
      const k = await billing.setRateLimit(keyId, { ratePerS: positiveInt("rate", required(p, "rate")), burst: positiveInt("burst", required(p, "burst")) });
      out(`${k.keyId}: ${k.rateLimit.ratePerS}/s, burst ${k.rateLimit.burst}`, k);
      return 0;
    }
    case "credits grant": {
      const [customerId, amount] = rest;
      if (!customerId || !amount) throw new UsageError("credits grant needs CUSTOMER and USD, e.g. credits grant cus_local_abc 10");
      const g = await billing.grant(customerId, parseUsdToMicros("usd", amount), flag(p, "idempotency-key") ?? `cli:${randomUUID()}`, flag(p, "note") ?? "operator grant");
      out(g.credited ? `Granted ${usd(g.amountMicros)} to ${customerId}; balance ${usd(g.balanceMicros)}.` : `Already granted under this idempotency key; balance ${usd(g.balanceMicros)}.`, g);
      return 0;
    }
    case "credits balance": {
      const customerId = rest[0];
      if (!customerId) throw new UsageError("credits balance needs CUSTOMER");
      const b = await billing.balance(customerId);
      out(`${customerId}: ${usd(b.balanceMicros)} available, ${usd(b.heldMicros)} held by running requests`, b);
      return 0;
    }
    case "ledger reconcile": {
      const report = await billing.reconcile({ repair: !p.flags.has("dry-run") });
      const lines = [
        `ledger checks: ${report.ledgerProblems.length === 0 ? "ok" : `${report.ledgerProblems.length} problem(s)`}`,
        ...report.ledgerProblems.map((x) => `  ${x}`),
        `balance store (${report.storeKind}): ${report.storeReady ? `${report.customersChecked} customers compared, ${report.drift.length} drifted, ${report.repaired.length} repaired from the ledger` : "not ready"}`,
        ...report.drift.map((d) => `  ${d.customerId}: store ${d.storeAvailableMicros}/${d.storeHeldMicros} µUSD vs ledger ${d.ledgerBalanceMicros}/${d.ledgerHeldMicros} (available/held)`),
        `outbox: ${report.outboxPending} settlement(s) waiting for the ledger`,
        report.ok ? "OK" : "NOT OK",
      ];
      if (report.storeKind === "memory") lines.splice(-1, 0, "(no REDIS_URL: the server keeps balances in process and rebuilds them from this ledger at start)");
      out(lines.join("\n"), report);
      return report.ok ? 0 : 1;
    }
    default:
      throw new UsageError(group ? `unknown command: ${p.words.join(" ")}` : "no command given");
  }
}

interface Backend {
  billing: OperatorBilling;
  /** The admin socket when a running server executes the commands. */
  via?: string;
  close(): Promise<void>;
}

async function openBackend(): Promise<Backend> {
  const dataDir = path.resolve(process.env.DREAM_DATA_DIR || "./.dream");
  const databaseUrl = process.env.DATABASE_URL || undefined;
  // With Postgres any number of processes share the ledger, so the CLI needs no server and asks none.
  const server = databaseUrl ? undefined : await findRunningServer(dataDir);
  if (server) return { billing: server, via: server.socketPath, close: async () => undefined };
  const stderrLog = (level: string) => (fields: Record<string, unknown>, message: string) => process.stderr.write(`${level}: ${message} ${JSON.stringify(fields)}\n`);
  const billing: BillingService = await createBilling({
    databaseUrl,
    redisUrl: process.env.REDIS_URL || undefined,
    // The server's schema and key prefix (src/config), so the CLI writes where the server reads.
    pgSchema: process.env.DREAM_PG_SCHEMA || undefined,
    redisPrefix: process.env.DREAM_REDIS_PREFIX || undefined,
    dataDir,
    holdTtlMs: 15 * 60 * 1000,
    clock: systemClock,
    logger: { info: () => undefined, warn: stderrLog("warning"), error: stderrLog("error") },
    sweepIntervalMs: 0,
    reconcileIntervalMs: 0,
  });
  try {
    await billing.start();
  } catch (err) {
    await billing.close();
    throw err;
  }
  return { billing, close: () => billing.close() };
}

async function main(argv: string[]): Promise<number> {
  let p: Parsed;
  try {
    p = parse(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (p.flags.has("version")) {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  if (p.flags.has("help") || p.words.length === 0 || p.words[0] === "help") {
    process.stdout.write(`${USAGE}\n`);
    return p.words.length === 0 && !p.flags.has("help") ? 2 : 0;
  }
  const json = p.flags.has("json");
  const out: Out = (human, data) => process.stdout.write(`${json ? JSON.stringify(data, null, 2) : human}\n`);
  let backend: Backend | undefined;
  try {
    backend = await openBackend();
    if (backend.via && !json) process.stderr.write(`(via the running server at ${backend.via})\n`);
    return await run(p, backend.billing, out);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof DataDirBusyError || err instanceof ServiceError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    await backend?.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
