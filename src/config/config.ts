// Environment → one frozen, validated Config. Nothing else in the server reads process.env.
import path from "node:path";
import { limits } from "../core/limits";

export interface Config {
  grpcAddr: string;
  httpAddr: string;
  dataDir: string;
  /** DREAM_JOBS_DIR: the root every batch job's source and sink path is relative to (default <dataDir>/jobs). */
  jobsDir: string;
  /** DREAM_JOB_LEASE_MS: how long a claimed job row stays this instance's without renewal; a dead instance's rows are claimed again after it. */
  jobLeaseMs: number;
  /** Postgres URL for the ledger; unset → embedded PGlite under dataDir. */
  databaseUrl: string | undefined;
  /** Redis URL for balances and rate limits; unset → in-process stores. */
  redisUrl: string | undefined;
  /** Postgres schema for the ledger (several deployments or test runs can share one database). */
  pgSchema: string | undefined;
  /** Prefix of every Redis key this server writes. */
  redisPrefix: string | undefined;
  catalogPath: string;
  modelDir: string;
  /** Which catalog slugs to serve (load runners for); default: every entry whose files exist or can be built. */
  modelsEnabled: string[] | undefined;
  /** "cpu" | "cuda" | "cuda:N"; there is no silent fallback. The first of `devices`. */
  executionProvider: string;
  /**
   * One runner per entry, for every served model (replicas): DREAM_EXECUTION_PROVIDER as a list —
   * "cuda:0,cuda:1", or "cpu*2" / "cpu×2" (two CPU runners, for tests), "cuda*2" = cuda:0,cuda:1.
   */
  devices: string[];
  intraOpThreads: number | undefined;
  /** ORT intra-op threads busy-wait between parallel sections: DREAM_ORT_SPINNING=on|off for every model; unset, each model's catalog ortSpinning (default off). */
  ortSpinning: boolean | undefined;
  /** Post a finished request's charge after its response has left (DREAM_SETTLE_BEHIND=off awaits it first; src/app/settle-behind.ts). */
  settleBehind: boolean;
  /**
   * Write a predict's durable pre-debit while the engine starts, after the balance gate has held the
   * amount; nothing is delivered or settled before it lands (DREAM_HOLD_RECORD_BEHIND=off awaits it
   * before submitting; src/service/predict-flow.ts).
   */
  holdRecordBehind: boolean;
  /** Most chunks of an unchanged batch one runner call runs back to back (DREAM_RUN_CHUNKS_MAX; 1 = a round trip per chunk). */
  runChunksMax: number;
  /**
   * Batch lanes that may step beside interactive ones (DREAM_BATCH_BESIDE_INTERACTIVE, lanes). Unset:
   * 0 on the CPU provider (every lane there costs as much as an interactive one, so a decision would
   * slow down by the batch lanes riding with it), the model's batchLanesMax on CUDA (free lanes of a
   * step cost little there). See plan.ts rule 3a.
   */
  batchLanesBesideInteractive: number | undefined;
  /**
   * Batch lanes in play for limits.interactiveNearUs after an interactive arrival, so a control loop's
   * next decision waits for a shorter batch chunk (DREAM_BATCH_LANES_NEAR_INTERACTIVE, lanes). Unset:
   * half the model's batchLanesMax on the CPU provider (a chunk's time grows with its lanes there), no
   * cap on CUDA. See plan.ts rule 3c.
   */
  batchLanesNearInteractive: number | undefined;
  /** DREAM_GRPC_MAX_CONNECTION_AGE_MS: recycle client connections so they re-resolve DNS (0 = never, the default). */
  grpcMaxConnectionAgeMs: number;
  chunkTimeoutMs: number;
  holdTtlMs: number;
  shutdownGraceMs: number;
  stripe: { secretKey: string; webhookSecret: string; successUrl: string; cancelUrl: string; apiHost?: string; apiPort?: number; apiProtocol?: "http" | "https" } | undefined;
  /** Round each debit up to a whole cent (legacy seed behaviour; off by default, see docs/API.md "Domain numbers"). */
  roundDebitsToCent: boolean;
  /** On an embedded first boot, create a starter key with this many USD of credits (0 disables). */
  starterCreditsUsd: number;
  logLevel: string;
  /**
   * The per-IP bucket of endpoints that answer without a key (and of failed authentications). Behind a
   * proxy every caller shares its address, so operators there raise it (the proxy should limit instead).
   */
  ipRateLimit: { ratePerS?: number; burst?: number };
  /** Serve the operator CLI on <dataDir>/admin.sock (DREAM_ADMIN_SOCKET=off disables; docs/OPERATIONS.md). */
  adminSocket: boolean;
  /** Raw gRPC predict responses leave without grpc-js's framing copy by patching grpc-js (DREAM_GRPC_PREFRAMED=off disables; src/transport/grpc/raw/README.md). */
  grpcPreframedSend: boolean;
  /** The gRPC server's HTTP/2 receive window in bytes, raised by patching grpc-js (opt-in; 0 = grpc-js's 65,535; src/transport/grpc/receive-window.ts). */
  grpcReceiveWindowBytes: number;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

type Env = Record<string, string | undefined>;

function intFrom(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  }
  return value;
}

// 0 (the default) leaves grpc-js's window; otherwise at least HTTP/2's own 65,535 bytes.
function receiveWindowFrom(env: Env): number {
  const value = intFrom(env, "DREAM_GRPC_RECEIVE_WINDOW_BYTES", 0, 0, limits.grpcReceiveWindowBytesMax);
  if (value !== 0 && value < limits.grpcReceiveWindowBytesMin) throw new ConfigError(`DREAM_GRPC_RECEIVE_WINDOW_BYTES must be 0 (off) or at least ${limits.grpcReceiveWindowBytesMin} (HTTP/2's default window), got ${JSON.stringify(env.DREAM_GRPC_RECEIVE_WINDOW_BYTES)}`);
  return value;
}

function onOffFrom(env: Env, name: string, fallback: boolean): boolean {
  const raw = (env[name] ?? "").trim().toLowerCase();
  if (raw === "") return fallback;
  if (raw === "on" || raw === "1") return true;
  if (raw === "off" || raw === "0") return false;
  throw new ConfigError(`${name} must be on or off, got ${JSON.stringify(env[name])}`);
}

function addrFrom(env: Env, name: string, fallback: string): string {
  const raw = env[name] ?? fallback;
  if (!/^[^\s]+:\d{1,5}$/.test(raw)) throw new ConfigError(`${name} must be host:port, got ${JSON.stringify(raw)}`);
  return raw;
}

export function loadConfig(env: Env = process.env, root = path.resolve(__dirname, "..", "..")): Readonly<Config> {
  const devices = devicesFrom(env.DREAM_EXECUTION_PROVIDER ?? "cpu");
  const ep = devices[0]!;
  const stripeKey = env.STRIPE_SECRET_KEY;
  const stripeHook = env.STRIPE_WEBHOOK_SECRET;
  if (Boolean(stripeKey) !== Boolean(stripeHook)) {
    throw new ConfigError("set both STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET, or neither");
  }
  if (env.DREAM_PG_SCHEMA && !/^[a-z_][a-z0-9_]{0,62}$/.test(env.DREAM_PG_SCHEMA)) {
    throw new ConfigError(`DREAM_PG_SCHEMA must be a lowercase SQL identifier, got ${JSON.stringify(env.DREAM_PG_SCHEMA)}`);
  }
  const publicUrl = env.DREAM_PUBLIC_URL ?? "http://127.0.0.1:8080";
  const stripeApi = env.STRIPE_API_BASE ? new URL(env.STRIPE_API_BASE) : undefined; // tests: a local fake Stripe
  const dataDir = path.resolve(env.DREAM_DATA_DIR ?? "./.dream");
  const config: Config = {
    grpcAddr: addrFrom(env, "DREAM_GRPC_ADDR", "127.0.0.1:50051"),
    httpAddr: addrFrom(env, "DREAM_HTTP_ADDR", "127.0.0.1:8080"),
    dataDir,
    jobsDir: path.resolve(env.DREAM_JOBS_DIR || path.join(dataDir, "jobs")),
    jobLeaseMs: intFrom(env, "DREAM_JOB_LEASE_MS", 30_000, 1000, limits.holdTtlMsMax),
    databaseUrl: env.DATABASE_URL || undefined,
    redisUrl: env.REDIS_URL || undefined,
    pgSchema: env.DREAM_PG_SCHEMA || undefined,
    redisPrefix: env.DREAM_REDIS_PREFIX || undefined,
    catalogPath: path.resolve(env.DREAM_CATALOG ?? path.join(root, "gpu", "catalog.json")),
    modelDir: path.resolve(env.DREAM_MODEL_DIR ?? path.join(root, "gpu", "models")),
    modelsEnabled: env.DREAM_MODELS ? env.DREAM_MODELS.split(",").map((s) => s.trim()).filter(Boolean) : undefined,
    executionProvider: ep,
    devices,
    intraOpThreads: env.DREAM_INTRA_OP_THREADS ? intFrom(env, "DREAM_INTRA_OP_THREADS", 0, 1, 256) : undefined,
    ortSpinning: env.DREAM_ORT_SPINNING === undefined || env.DREAM_ORT_SPINNING === "" ? undefined : onOffFrom(env, "DREAM_ORT_SPINNING", false),
    settleBehind: onOffFrom(env, "DREAM_SETTLE_BEHIND", true),
    holdRecordBehind: onOffFrom(env, "DREAM_HOLD_RECORD_BEHIND", true),
    runChunksMax: intFrom(env, "DREAM_RUN_CHUNKS_MAX", limits.runChunksMax, 1, limits.runChunksMax),
    grpcMaxConnectionAgeMs: intFrom(env, "DREAM_GRPC_MAX_CONNECTION_AGE_MS", 0, 0, 24 * 60 * 60 * 1000),
    batchLanesBesideInteractive: env.DREAM_BATCH_BESIDE_INTERACTIVE ? intFrom(env, "DREAM_BATCH_BESIDE_INTERACTIVE", 0, 0, limits.batchLanesMax) : undefined,
    batchLanesNearInteractive: env.DREAM_BATCH_LANES_NEAR_INTERACTIVE ? intFrom(env, "DREAM_BATCH_LANES_NEAR_INTERACTIVE", 0, 1, limits.batchLanesMax) : undefined,
    chunkTimeoutMs: intFrom(env, "DREAM_CHUNK_TIMEOUT_MS", 120_000, 100, limits.chunkTimeoutMsMax),
    holdTtlMs: intFrom(env, "DREAM_HOLD_TTL_MS", 15 * 60 * 1000, 1000, limits.holdTtlMsMax),
    shutdownGraceMs: intFrom(env, "DREAM_SHUTDOWN_GRACE_MS", 30_000, 0, 600_000),
    stripe:
      stripeKey && stripeHook
        ? {
            secretKey: stripeKey,
            webhookSecret: stripeHook,
            successUrl: env.STRIPE_SUCCESS_URL ?? `${publicUrl}/v1/billing/topup/success`,
            cancelUrl: env.STRIPE_CANCEL_URL ?? `${publicUrl}/v1/billing/topup/cancel`,
            apiHost: stripeApi?.hostname,
            apiPort: stripeApi ? Number(stripeApi.port || (stripeApi.protocol === "http:" ? 80 : 443)) : undefined,
            apiProtocol: stripeApi ? (stripeApi.protocol.replace(":", "") as "http" | "https") : undefined,
          }
        : undefined,
    roundDebitsToCent: env.DREAM_ROUND_DEBITS_TO_CENT === "1",
    starterCreditsUsd: intFrom(env, "DREAM_STARTER_CREDITS_USD", 5, 0, limits.topupUsdMax),
    logLevel: env.DREAM_LOG_LEVEL ?? "info",
    // Unset → the documented default policy (billing/ratelimit/policy.ts), which also validates them.
    ipRateLimit: {
      ratePerS: env.DREAM_IP_RATE_PER_S ? intFrom(env, "DREAM_IP_RATE_PER_S", 0, 1, 1_000_000) : undefined,
      burst: env.DREAM_IP_BURST ? intFrom(env, "DREAM_IP_BURST", 0, 1, 1_000_000) : undefined,
    },
    adminSocket: onOffFrom(env, "DREAM_ADMIN_SOCKET", true),
    grpcPreframedSend: onOffFrom(env, "DREAM_GRPC_PREFRAMED", true),
    grpcReceiveWindowBytes: receiveWindowFrom(env),
  };
  return Object.freeze(config);
}

/** DREAM_EXECUTION_PROVIDER: one device, a comma list, or `<cpu|cuda>*N` (also ×N): one runner each. */
export function devicesFrom(text: string): string[] {
  const spec = text.trim();
  const fail = (why: string): never => {
    throw new ConfigError(`DREAM_EXECUTION_PROVIDER must be cpu, cuda, cuda:N, a comma list of those, or cpu*N / cuda*N (N = 1..${limits.replicasPerModelMax}): ${why}, got ${JSON.stringify(spec.slice(0, 64))}`);
  };
  const repeated = /^(cpu|cuda)\s*[*×]\s*(\d+)$/.exec(spec);
  let devices: string[];
  if (repeated) {
    const n = Number(repeated[2]);
    if (!(n >= 1 && n <= limits.replicasPerModelMax)) fail(`N out of range`);
    devices = Array.from({ length: n }, (_, i) => (repeated[1] === "cpu" ? "cpu" : `cuda:${i}`));
  } else {
    devices = spec.split(",").map((d) => d.trim());
  }
  if (devices.length > limits.replicasPerModelMax) fail(`${devices.length} devices`);
  for (const d of devices) if (!/^(cpu|cuda(:\d+)?)$/.test(d)) fail(`unknown device ${JSON.stringify(d.slice(0, 32))}`);
  if (new Set(devices.filter((d) => d !== "cpu")).size !== devices.filter((d) => d !== "cpu").length) fail("a CUDA device listed twice");
  return devices;
}
