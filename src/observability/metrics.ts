// Prometheus metrics (prom-client) on a private registry: calls by transport/method/code, latency,
// batch sizes, queue depth, frames generated, billing outcomes and rate-limit rejections.
import client from "prom-client";
import type { Observation } from "./status";

/** One served model's engine figures, read at scrape time. */
export interface EngineSample {
  model: string;
  queueRequests: number;
  runningLanes: number;
  runnerRestarts: number;
  /** Batch candidates paused for interactive work. */
  pausedLanes: number;
  /** Per replica when the model runs on several devices. */
  replicas?: { index: number; device: string; runningLanes: number; serving: boolean }[];
}

/**
 * What metrics needs from the served models, supplied by the composition root (app.ts): observability
 * sits below service/ and never imports it (test/repo/imports.test.ts holds that).
 */
export type EngineSamples = () => EngineSample[];

export type BillingOutcome = "reserved" | "posted" | "voided" | "insufficient_credits";

export class Metrics {
  readonly registry = new client.Registry();
  private readonly calls: client.Counter<"transport" | "method" | "code">;
  private readonly callSeconds: client.Histogram<"transport" | "method">;
  private readonly predictSeconds: client.Histogram<"model">;
  private readonly batchLanes: client.Histogram<"model">;
  private readonly billing: client.Counter<"outcome">;
  private readonly billedMicros: client.Counter;
  private readonly rateLimited: client.Counter<"scope">;

  constructor(engines: EngineSamples) {
    const registers = [this.registry];
    this.calls = new client.Counter({ name: "dream_calls_total", help: "Finished calls by transport, method and status code", labelNames: ["transport", "method", "code"], registers });
    this.callSeconds = new client.Histogram({ name: "dream_call_seconds", help: "Call latency", labelNames: ["transport", "method"], buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 1, 2, 5, 10, 30, 60], registers });
    this.predictSeconds = new client.Histogram({ name: "dream_predict_seconds", help: "Predict latency from admission to settlement", labelNames: ["model"], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60], registers });
    this.batchLanes = new client.Histogram({ name: "dream_request_candidates", help: "Candidates (K) per predict", labelNames: ["model"], buckets: [1, 2, 4, 8, 16, 32], registers });
    this.billing = new client.Counter({ name: "dream_billing_events_total", help: "Billing outcomes of predicts", labelNames: ["outcome"], registers });
    this.billedMicros = new client.Counter({ name: "dream_billed_micros_total", help: "Micro-USD captured by predicts", registers });
    this.rateLimited = new client.Counter({ name: "dream_rate_limited_total", help: "Calls rejected by the rate limiter", labelNames: ["scope"], registers });
    new client.Gauge({
      name: "dream_queue_requests",
      help: "Requests waiting per model",
      labelNames: ["model"],
      registers,
      collect() {
        for (const e of engines()) this.set({ model: e.model }, e.queueRequests);
      },
    });
    new client.Gauge({
      name: "dream_running_lanes",
      help: "Candidates in flight per model",
      labelNames: ["model"],
      registers,
      collect() {
        for (const e of engines()) this.set({ model: e.model }, e.runningLanes);
      },
    });
    new client.Gauge({
      name: "dream_paused_lanes",
      help: "Batch candidates paused for interactive work per model (their latent state kept)",
      labelNames: ["model"],
      registers,
      collect() {
        for (const e of engines()) this.set({ model: e.model }, e.pausedLanes);
      },
    });
    new client.Gauge({
      name: "dream_replica_running_lanes",
      help: "Candidates in flight per replica of a model that runs on several devices",
      labelNames: ["model", "replica", "device"],
      registers,
      collect() {
        this.reset();
        for (const e of engines()) for (const r of e.replicas ?? []) this.set({ model: e.model, replica: String(r.index), device: r.device }, r.runningLanes);
      },
    });
    new client.Gauge({
      name: "dream_replica_up",
      help: "1 while a replica's runner serves (idle or busy), 0 while it restarts, loads or has failed",
      labelNames: ["model", "replica", "device"],
      registers,
      collect() {
        this.reset();
        for (const e of engines()) for (const r of e.replicas ?? []) this.set({ model: e.model, replica: String(r.index), device: r.device }, r.serving ? 1 : 0);
      },
    });
    new client.Gauge({
      name: "dream_runner_restarts",
      help: "Runner replacements after crashes or hangs",
      labelNames: ["model"],
      registers,
      collect() {
        for (const e of engines()) this.set({ model: e.model }, e.runnerRestarts);
      },
    });
    // prom-client's standard names (process_cpu_seconds_total, process_resident_memory_bytes,
    // nodejs_*), unprefixed: its default names already start with process_/nodejs_, so a prefix doubled
    // them (dream_process_process_*), and the standard names are what stock dashboards and alerts query.
    client.collectDefaultMetrics({ register: this.registry });
  }

  observeCall(transport: "grpc" | "http", method: string, code: number, durationMs: number): void {
    this.calls.inc({ transport, method, code: String(code) });
    this.callSeconds.observe({ transport, method }, durationMs / 1000);
  }

  observeRateLimited(scope: "key" | "ip"): void {
    this.rateLimited.inc({ scope });
  }

  observePredict(model: string, o: Observation): void {
    this.predictSeconds.observe({ model }, o.latencyMs / 1000);
    this.batchLanes.observe({ model }, o.batchLanes);
  }

  observeBilling(outcome: BillingOutcome, micros = 0): void {
    this.billing.inc({ outcome });
    if (outcome === "posted") this.billedMicros.inc(micros);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
