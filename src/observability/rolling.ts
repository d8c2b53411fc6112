// Rolling request statistics over fixed windows (1 min, 1 h, 24 h) in constant memory: each window is
// a ring of time buckets, each bucket a count/error tally plus a log-scale latency histogram, so a
// p50/p99 over 24 h costs one merge of 96 small arrays and never stores individual samples.
import type { Clock } from "../core/clock";

const HIST_BUCKETS = 96; // 2^(i/8) ms: 1 ms … ~4000 s, ~9% resolution
const histIndex = (ms: number): number => Math.max(0, Math.min(HIST_BUCKETS - 1, Math.ceil(Math.log2(Math.max(ms, 1)) * 8)));
const histValueMs = (i: number): number => 2 ** (i / 8);

interface Bucket {
  startMs: number;
  requests: number;
  errors: number;
  /** Engine step calls (batches) run, and the lanes they carried: mean batch size = lanes / batches. */
  batches: number;
  batchLanes: number;
  hist: Uint32Array;
}

export interface WindowSpec {
  name: string;
  bucketMs: number;
  buckets: number;
}

export const WINDOWS: WindowSpec[] = [
  { name: "1m", bucketMs: 1_000, buckets: 60 },
  { name: "1h", bucketMs: 60_000, buckets: 60 },
  { name: "24h", bucketMs: 900_000, buckets: 96 },
];

export interface WindowSnapshot {
  window: string;
  requests: number;
  errors: number;
  errorRate: number;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  /** Mean lanes per engine step (batch) run in the window; undefined when no step ran. */
  meanBatchSize: number | undefined;
}

class Window {
  private readonly ring: Bucket[];
  constructor(private readonly spec: WindowSpec) {
    this.ring = Array.from({ length: spec.buckets }, () => ({ startMs: -1, requests: 0, errors: 0, batches: 0, batchLanes: 0, hist: new Uint32Array(HIST_BUCKETS) }));
  }

  private bucketAt(nowMs: number): Bucket {
    const startMs = Math.floor(nowMs / this.spec.bucketMs) * this.spec.bucketMs;
    const b = this.ring[Math.floor(startMs / this.spec.bucketMs) % this.spec.buckets]!;
    if (b.startMs !== startMs) {
      b.startMs = startMs;
      b.requests = b.errors = b.batches = b.batchLanes = 0;
      b.hist.fill(0);
    }
    return b;
  }

  record(nowMs: number, latencyMs: number, error: boolean): void {
    const b = this.bucketAt(nowMs);
    b.requests++;
    if (error) b.errors++;
    b.hist[histIndex(latencyMs)]!++;
  }

  recordBatch(nowMs: number, lanes: number): void {
    const b = this.bucketAt(nowMs);
    b.batches++;
    b.batchLanes += lanes;
  }

  snapshot(nowMs: number): WindowSnapshot {
    const oldestMs = nowMs - this.spec.bucketMs * this.spec.buckets;
    const hist = new Uint32Array(HIST_BUCKETS);
    let requests = 0;
    let errors = 0;
    let batches = 0;
    let batchLanes = 0;
    for (const b of this.ring) {
      if (b.startMs < 0 || b.startMs <= oldestMs) continue;
      requests += b.requests;
      errors += b.errors;
      batches += b.batches;
      batchLanes += b.batchLanes;
      for (let i = 0; i < HIST_BUCKETS; i++) hist[i]! += b.hist[i]!;
    }
    return {
      window: this.spec.name,
      requests,
      errors,
      errorRate: requests ? errors / requests : 0,
      p50Ms: quantile(hist, requests, 0.5),
      p99Ms: quantile(hist, requests, 0.99),
      meanBatchSize: batches ? batchLanes / batches : undefined,
    };
  }
}

function quantile(hist: Uint32Array, total: number, q: number): number | undefined {
  if (total === 0) return undefined;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < HIST_BUCKETS; i++) {
    seen += hist[i]!;
    if (seen >= rank) return Math.round(histValueMs(i) * 10) / 10;
  }
  return undefined;
}

export class RollingStats {
  private readonly windows = WINDOWS.map((w) => new Window(w));
  constructor(private readonly clock: Clock) {}

  /** One finished request: latency from when the transport received it, and whether it failed. */
  record(latencyMs: number, error: boolean): void {
    const now = this.clock.wallMs();
    for (const w of this.windows) w.record(now, latencyMs, error);
  }

  /** One engine step call (a batch) of `lanes` lanes. */
  recordBatch(lanes: number): void {
    const now = this.clock.wallMs();
    for (const w of this.windows) w.recordBatch(now, lanes);
  }

  snapshot(): WindowSnapshot[] {
    const now = this.clock.wallMs();
    return this.windows.map((w) => w.snapshot(now));
  }
}
