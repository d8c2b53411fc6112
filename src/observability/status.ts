// Per-model and overall rolling stats, fed by the predict flow, read by GetStatus and /metrics.
import type { Clock } from "../core/clock";
import { RollingStats } from "./rolling";

export interface Observation {
  /** From when the transport received the request until its response was complete. */
  latencyMs: number;
  error: boolean;
  /** The request's K (candidates), for the per-request histogram in /metrics; not the engine batch. */
  batchLanes: number;
}

export class StatusRecorder {
  readonly overall: RollingStats;
  private readonly perModel = new Map<string, RollingStats>();
  private readonly listeners: ((slug: string, o: Observation) => void)[] = [];

  constructor(private readonly clock: Clock) {
    this.overall = new RollingStats(clock);
  }

  record(slug: string, o: Observation): void {
    this.overall.record(o.latencyMs, o.error);
    this.model(slug).record(o.latencyMs, o.error);
    for (const l of this.listeners) l(slug, o);
  }

  /**
   * One engine step of `lanes` lanes on `slug`'s scheduler: mean_batch_size is lanes per step, the
   * batching the engine achieved, whatever K each request asked for.
   */
  recordBatch(slug: string, lanes: number): void {
    this.overall.recordBatch(lanes);
    this.model(slug).recordBatch(lanes);
  }

  model(slug: string): RollingStats {
    let s = this.perModel.get(slug);
    if (!s) {
      s = new RollingStats(this.clock);
      this.perModel.set(slug, s);
    }
    return s;
  }

  onRecord(listener: (slug: string, o: Observation) => void): void {
    this.listeners.push(listener);
  }
}
