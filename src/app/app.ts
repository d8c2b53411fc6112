// The composition root: builds every part from a Config and starts the servers. main.ts adds process
// signals; tests call startApp() directly with a temp data dir and the tiny model.
import type * as grpc from "@grpc/grpc-js";
import fs from "node:fs";
import path from "node:path";
import { createBilling, scopedRequestId, type BillingService } from "../billing";
import { SqlLedger } from "../billing/ledger/sql-ledger";
import { defaultIpPolicy, InMemoryRateLimiter, RedisRateLimiter, type RateLimiter } from "../billing/ratelimit";
import { createRedis, rateLimitRedisOptions } from "../billing/redis/connection";
import { createTopups, type Topups } from "../billing/stripe";
import type { CatalogEntry } from "../config/catalog";
import type { Config } from "../config/config";
import { loadCatalog } from "../config/load-catalog";
import { systemClock, type Clock } from "../core/clock";
import { ensureReferenceModels } from "../../gpu/build-reference-models";
import { createLogger, type Logger } from "../observability/logger";
import { Metrics } from "../observability/metrics";
import { StatusRecorder } from "../observability/status";
import { migrateJobs } from "../jobs/migrations";
import { JobStore } from "../jobs/store";
import { Guard } from "../service/guard";
import type { JobsDeps } from "../service/jobs/deps";
import type { RowLedger } from "../service/jobs/row-run";
import { JobRunner } from "../service/jobs/runner";
import { buildMethods } from "../service/methods";
import type { MethodTable } from "../service/context";
import type { ModelSlot } from "../service/ports";
import { PredictFlow } from "../service/predict-flow";
import { InflightRequests, ModelRegistry } from "../service/registry";
import { health, type Readiness } from "../service/status-rpcs";
import { bindGrpc, createGrpcServer } from "../transport/grpc/server";
import { createRestServer, type RestServer } from "../transport/rest";
import { startAdminServer, type AdminServer } from "./admin/server";
import { billingPort } from "./billing";
import { settleBehind } from "./settle-behind";
import { codecPort, startFrameEncoders, stopFrameEncoders } from "./codecs";
import { startModel } from "./models";
import { rateLimitPort } from "./limiter";

export const VERSION = "0.1.0";

export interface App {
  config: Readonly<Config>;
  grpcPort: number;
  httpPort: number;
  billing: BillingService;
  topups: Topups;
  registry: ModelRegistry;
  /** The method table both transports serve (tests call a handler in process, with a send of their own). */
  methods: MethodTable;
  logger: Logger;
  /** Resolves when every enabled model has finished loading (live or failed). */
  modelsLoaded: Promise<void>;
  /** Stop admitting, finish in-flight work (up to the grace period), then close everything. */
  shutdown(): Promise<void>;
  /**
   * Resolves once every charge posted behind its response so far is in the ledger (settle-behind.ts).
   * The API's own reads wait per customer by themselves; this is for reading `billing` directly.
   */
  settled(): Promise<void>;
}

export interface AppOptions {
  clock?: Clock;
  logger?: Logger;
}

/** Why a model's files are not usable, naming the file as the catalog does: status_reason reaches
 * clients (ModelSpec, 503 bodies), so it never shows the server's paths. */
export function missingModelFile(modelDir: string, entry: CatalogEntry): string | undefined {
  for (const f of [entry.files.encoder, entry.files.step]) {
    if (!fs.existsSync(path.join(modelDir, f))) return `ONNX file not installed: ${f} (in the server's DREAM_MODEL_DIR)`;
  }
  return undefined;
}

/** A load error's message for clients: the model directory's path becomes catalog-relative. */
export function clientReason(modelDir: string, message: string): string {
  const dir = path.resolve(modelDir);
  return message.split(`${dir}${path.sep}`).join("").split(dir).join("<model dir>");
}

export async function startApp(config: Readonly<Config>, options: AppOptions = {}): Promise<App> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.logLevel);
  const startedWallMs = clock.wallMs();
  const catalog = loadCatalog(config.catalogPath);
  const enabled = (e: CatalogEntry) => config.modelsEnabled === undefined || config.modelsEnabled.includes(e.slug);
  await ensureReferenceModels(config.modelDir, { models: catalog.models.filter((e) => e.reference && enabled(e)) });

  fs.mkdirSync(config.dataDir, { recursive: true });
  const billing = await createBilling({ databaseUrl: config.databaseUrl, redisUrl: config.redisUrl, pgSchema: config.pgSchema, redisPrefix: config.redisPrefix, dataDir: config.dataDir, holdTtlMs: config.holdTtlMs, clock, logger });
  await billing.start();
  const redisForLimits = config.redisUrl ? createRedis(config.redisUrl, rateLimitRedisOptions) : undefined;
  const redisLimiter = redisForLimits ? new RedisRateLimiter({ redis: redisForLimits, keyPrefix: config.redisPrefix ? `${config.redisPrefix}:rl:` : undefined }) : undefined;
  const limiter: RateLimiter = redisLimiter ?? new InMemoryRateLimiter({ clock });
  const topups = createTopups(
    {
      secretKey: config.stripe?.secretKey,
      webhookSecret: config.stripe?.webhookSecret,
      successUrl: config.stripe?.successUrl,
      cancelUrl: config.stripe?.cancelUrl,
      client: config.stripe?.apiHost ? { host: config.stripe.apiHost, port: config.stripe.apiPort, protocol: config.stripe.apiProtocol, maxNetworkRetries: 1 } : undefined,
      logger,
    },
    billing,
  );

  // Models: every catalog entry is listed; enabled ones with files get a runner and a scheduler.
  const slots: ModelSlot[] = catalog.models.map((entry) => {
    const missing = missingModelFile(config.modelDir, entry);
    if (missing) return { entry, status: "unavailable", statusReason: missing, engine: undefined };
    if (!enabled(entry)) return { entry, status: "unavailable", statusReason: "not enabled on this server (DREAM_MODELS)", engine: undefined };
    return { entry, status: "loading", statusReason: "warming up", engine: undefined };
  });
  const runners: { close(): Promise<void> }[] = [];
  // Before the models load: their schedulers report every step's lane count to it.
  const status = new StatusRecorder(clock);
  const modelsLoaded = Promise.all(
    slots
      .filter((s) => s.status === "loading")
      .map(async (slot) => {
        try {
          slot.engine = await startModel(slot.entry, { config, clock, status, logger, track: (runner) => runners.push(runner) });
          slot.status = "live";
          slot.statusReason = "";
          logger.info({ model: slot.entry.slug, devices: config.devices }, "model live");
        } catch (err) {
          slot.status = "failed";
          const message = err instanceof Error ? err.message : String(err);
          slot.statusReason = clientReason(config.modelDir, message);
          logger.error({ model: slot.entry.slug, err: message }, "model failed to load");
        }
      }),
  ).then(() => undefined);

  const registry = new ModelRegistry(slots);
  const inflight = new InflightRequests();
  // Metrics read engine figures through this function, so observability never imports service/.
  const metrics = new Metrics(() =>
    registry.list().flatMap((s) => {
      if (!s.engine) return [];
      const { queueRequests, runningLanes, runnerRestarts, pausedLanes, replicas } = s.engine.stats();
      const perReplica = replicas?.map((r) => ({ index: r.index, device: r.device, runningLanes: r.runningLanes, serving: r.runnerState === "idle" || r.runnerState === "busy" }));
      return [{ model: s.entry.slug, queueRequests, runningLanes, runnerRestarts, pausedLanes, ...(perReplica ? { replicas: perReplica } : {}) }];
    }),
  );
  status.onRecord((slug, o) => metrics.observePredict(slug, o));
  const port = billingPort(billing, topups, config.holdTtlMs, metrics);
  // Without reserveGated every caller awaits the whole reserve (the ledger's record included).
  const direct = config.holdRecordBehind ? port : { ...port, reserveGated: undefined };
  const billingAdapter = config.settleBehind ? settleBehind(direct, logger) : { ...direct, flush: async () => {} };
  const guard = new Guard(billingAdapter, rateLimitPort(limiter, (scope) => metrics.observeRateLimited(scope), { ratePerS: config.ipRateLimit.ratePerS ?? defaultIpPolicy.ratePerS, burst: config.ipRateLimit.burst ?? defaultIpPolicy.burst }));
  const encoders = startFrameEncoders(config.intraOpThreads);
  logger.info({ encoderThreads: encoders.threads, encoder: encoders.native ? "libvips threads" : "sharp" }, "frame encoders");
  const flow = new PredictFlow({ models: registry, inflight, billing: billingAdapter, codecs: codecPort, clock, status, logger, roundDebitsToCent: config.roundDebitsToCent });
  let draining = false;
  const readiness: Readiness = {
    draining: () => draining,
    checks: async () => {
      const checks = await billing.healthChecks();
      if (redisLimiter) checks.rate_limiter = await redisLimiter.check();
      return checks;
    },
  };
  // Job rows await the whole reserve: the row runner decides at admission whether a refusal spends an
  // attempt (402 and an unreachable ledger do not), and 3 ms per batch row is not worth that rule.
  const jobs = await startJobs(config, billing, { models: registry, inflight, billing: { ...direct, reserveGated: undefined }, codecs: codecPort, clock, status, logger, roundDebitsToCent: config.roundDebitsToCent }, modelsLoaded);
  const methods = buildMethods({ models: registry, inflight, guard, billing: billingAdapter, codecs: codecPort, flow, status, readiness, clock, startedWallMs, version: VERSION, logger, jobs: jobs?.deps });
  // grpc.health.v1 and /healthz share one definition of ready.
  const isReady = async () => (await health(registry, readiness)).ready;

  const grpcServer: grpc.Server = createGrpcServer({ methods, logger, isReady, onCallEnd: (m, code, ms) => metrics.observeCall("grpc", m, code, ms), preframedSend: config.grpcPreframedSend, maxConnectionAgeMs: config.grpcMaxConnectionAgeMs, maxConnectionAgeGraceMs: config.shutdownGraceMs, receiveWindowBytes: config.grpcReceiveWindowBytes });
  const grpcPort = await bindGrpc(grpcServer, config.grpcAddr);
  const rest: RestServer = createRestServer({
    methods,
    logger,
    extras: {
      stripeWebhook: (rawBody, signature) => topups.handleWebhook(rawBody, signature),
      metrics: () => metrics.render(),
    },
    onRequestEnd: (route, status, ms) => metrics.observeCall("http", route, status, ms),
  });
  const httpPort = await rest.listen(config.httpAddr);
  // The operator CLI's way in while this process holds the embedded ledger (docs/OPERATIONS.md).
  const admin: AdminServer | undefined = config.adminSocket ? await startAdminServer(config.dataDir, billing, logger) : undefined;
  logger.info({ grpc: `${config.grpcAddr.replace(/:\d+$/, "")}:${grpcPort}`, http: `${config.httpAddr.replace(/:\d+$/, "")}:${httpPort}`, dataDir: config.dataDir, ledger: config.databaseUrl ? "postgres" : "embedded", balances: config.redisUrl ? "redis" : "in-process" }, "dream engine serving");

  let shutdownPromise: Promise<void> | undefined;
  const shutdown = () =>
    (shutdownPromise ??= (async () => {
      draining = true;
      logger.info({ graceMs: config.shutdownGraceMs }, "draining: no new requests; finishing in-flight work");
      const drains = Promise.all(slots.map((s) => s.engine?.drain()));
      // Job rows in flight get the same grace; past it they are cancelled and post what they generated.
      const jobsStopped = jobs?.runner.stop(config.shutdownGraceMs) ?? Promise.resolve();
      const grace = new Promise((r) => setTimeout(r, config.shutdownGraceMs).unref());
      await Promise.race([Promise.all([drains, jobsStopped]), grace]);
      await jobsStopped;
      await new Promise<void>((r) => grpcServer.tryShutdown(() => r()));
      grpcServer.forceShutdown();
      await rest.close();
      await modelsLoaded;
      await Promise.all(runners.map((r) => r.close().catch(() => undefined)));
      await stopFrameEncoders();
      await admin?.close(); // before billing: no operator call may find the ledger closed
      await billingAdapter.flush(); // posts still settling behind their responses
      await billing.close();
      redisForLimits?.disconnect();
      logger.info("stopped");
    })());

  return { config, grpcPort, httpPort, billing, topups, registry, methods, logger, modelsLoaded, shutdown, settled: () => billingAdapter.flush() };
}

/**
 * Batch jobs: their tables live in the ledger database (migrated apart from billing's), their rows run
 * through a PredictFlow of their own whose charges are posted before the row is recorded done (no
 * settle-behind: a row's charge and its "done" must not be lost apart), and the runner starts claiming
 * once the models have loaded (a row claimed earlier would only find its model warming up).
 */
async function startJobs(config: Readonly<Config>, billing: BillingService, flowDeps: ConstructorParameters<typeof PredictFlow>[0], modelsLoaded: Promise<void>): Promise<{ deps: JobsDeps; runner: JobRunner } | undefined> {
  const sql = billing.sql;
  if (sql === undefined) return undefined;
  await migrateJobs(sql);
  fs.mkdirSync(config.jobsDir, { recursive: true });
  const store = new JobStore(sql);
  const flow = new PredictFlow(flowDeps);
  const ledger = new SqlLedger(sql);
  const rowLedger: RowLedger = {
    async status(customerId, requestId) {
      const s = await ledger.holdStatus(scopedRequestId(customerId, requestId));
      if (s === null) return { state: "none", capturedMicros: 0 };
      if (s.settlement === null) return { state: "pending", capturedMicros: 0 };
      return { state: s.settlement.outcome, capturedMicros: s.settlement.capturedMicros };
    },
    async voidStale(customerId, requestId) {
      const v = await billing.void(scopedRequestId(customerId, requestId));
      if (v.outcome === "pending") throw new Error("the ledger is unreachable; the stale hold is voided later");
      return { state: v.outcome, capturedMicros: v.capturedMicros };
    },
  };
  const runner = new JobRunner({ store, flow, codecs: flowDeps.codecs, models: flowDeps.models, ledger: rowLedger, clock: flowDeps.clock, logger: flowDeps.logger, jobsRoot: config.jobsDir }, { leaseMs: config.jobLeaseMs });
  void modelsLoaded.then(() => runner.start());
  const deps: JobsDeps = { store, models: flowDeps.models, codecs: flowDeps.codecs, billing: flowDeps.billing, clock: flowDeps.clock, jobsRoot: config.jobsDir, chargeMicros: (frames, price) => flow.chargeMicros(frames, price), runner };
  return { deps, runner };
}
