// Per-model and overall rolling stats, fed by the predict flow, read by GetStatus and /metrics.
import type { Clock } from "../core/clock";
import { RollingStats } from "./rolling";

export interface Observation {
  latencyMs: number;
  error: boolean;
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
    this.overall.record(o.latencyMs, o.error, o.batchLanes);
    this.model(slug).record(o.latencyMs, o.error, o.batchLanes);
    for (const l of this.listeners) l(slug, o);
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
