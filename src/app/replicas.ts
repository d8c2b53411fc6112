// N replicas of one model (a runner and a scheduler each, on its own device) behind one ModelEngine.
// A request is placed once, at submit, on the replica where it can start soonest (scheduler/placement.ts)
// and stays there: its lanes' latent states live in that replica's worker. A replica whose runner fails
// fails only its own requests (each scheduler voids what it held, as with one runner); the others keep
// serving, and a replica whose runner gave up is replaced by a fresh one.
import { ServiceError } from "../core/errors";
import { limits } from "../core/limits";
import { placeRequest, replicaView, type ReplicaView } from "../scheduler/placement";
import type { CancelOutcome, EngineRequest, EngineSink, EngineStats, ModelEngine, ReplicaStats } from "../service/ports";
import type { CatalogEntry } from "../config/catalog";
import type { RunnerHandle, SchedulerEngine } from "./engine";

export interface Replica {
  /** "cpu", "cuda:1", … */
  device: string;
  engine: SchedulerEngine<RunnerHandle>;
}

export interface ReplicatedEngineOptions {
  /** Builds (and loads) a fresh replica for slot `index` on `device`; called when one has failed for good. */
  replace?: (index: number, device: string) => Promise<SchedulerEngine<RunnerHandle>>;
  onReplaced?: (index: number, device: string) => void;
  onReplaceFailed?: (index: number, device: string, err: unknown) => void;
}

const serving = (state: string): boolean => state === "idle" || state === "busy";

export class ReplicatedEngine implements ModelEngine {
  private readonly replicas: Replica[];
  /** Engine request id → the replica it was placed on, until it ends. */
  private readonly placed = new Map<string, number>();
  private readonly replacing = new Set<number>();
  private replacements = 0;
  private closed = false;

  constructor(
    readonly entry: CatalogEntry,
    replicas: readonly Replica[],
    private readonly options: ReplicatedEngineOptions = {},
  ) {
    if (replicas.length === 0) throw new Error("a replicated engine needs at least one replica");
    this.replicas = [...replicas];
  }

  /** The replicas as they are now (a replaced one is the new one). */
  get members(): readonly Replica[] {
    return this.replicas;
  }

  submit(request: EngineRequest, sink: EngineSink): void {
    this.replaceFailed();
    const placement = placeRequest(this.replicas.map((r) => this.view(r)), request.lanes.length, request.priority ?? "interactive");
    if (placement === undefined) {
      throw new ServiceError("UNAVAILABLE", `no replica of ${this.entry.slug} is serving right now; retry shortly`, { model: this.entry.slug, replicas: this.replicas.length }, 1);
    }
    const index = placement.replica;
    this.placed.set(request.requestId, index);
    try {
      this.replicas[index]!.engine.submit(request, {
        ...(sink.onStart ? { onStart: (q: number) => sink.onStart!(q) } : {}),
        onChunk: (chunk) => sink.onChunk(chunk),
        onEnd: (end) => {
          this.placed.delete(request.requestId);
          sink.onEnd(end);
        },
      });
    } catch (err) {
      this.placed.delete(request.requestId);
      throw err;
    }
  }

  cancel(requestId: string, candidateIndices?: number[]): CancelOutcome {
    const index = this.placed.get(requestId);
    if (index === undefined) return { found: false, cancelled: [], stillRunning: [] };
    return this.replicas[index]!.engine.cancel(requestId, candidateIndices);
  }

  get scorers(): Readonly<Record<string, "frames" | "latent">> {
    return this.replicas[0]!.engine.scorers;
  }

  /** Goals go to every replica: a scored request may be placed on any of them. */
  async setGoal(goalKey: string, frames: Uint8Array): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.engine.setGoal(goalKey, frames)));
  }

  releaseGoal(goalKeys: string[]): void {
    for (const r of this.replicas) r.engine.releaseGoal(goalKeys);
  }

  stats(): EngineStats {
    this.replaceFailed(); // status polls notice a failed replica even when no request comes
    const per = this.replicas.map((r) => r.engine.stats());
    const sum = (f: (s: EngineStats) => number) => per.reduce((n, s) => n + f(s), 0);
    const states = per.map((s) => s.runnerState);
    return {
      queueRequests: sum((s) => s.queueRequests),
      queueLanes: sum((s) => s.queueLanes),
      runningRequests: sum((s) => s.runningRequests),
      runningLanes: sum((s) => s.runningLanes),
      // The model serves while any replica does.
      runnerState: states.includes("busy") ? "busy" : states.includes("idle") ? "idle" : states[0]!,
      runnerRestarts: sum((s) => s.runnerRestarts),
      lastBatchLanes: Math.max(...per.map((s) => s.lastBatchLanes)),
      pausedLanes: sum((s) => s.pausedLanes),
      evictions: sum((s) => s.evictions),
      replicas: per.map((s, index): ReplicaStats => ({
        index,
        device: this.replicas[index]!.device,
        runnerState: s.runnerState,
        queueLanes: s.queueLanes,
        runningLanes: s.runningLanes,
        runnerRestarts: s.runnerRestarts,
        pausedLanes: s.pausedLanes,
      })),
    };
  }

  async drain(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.engine.drain()));
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.replicas.map((r) => r.engine.close().catch(() => undefined)));
  }

  private view(r: Replica): ReplicaView {
    const s = r.engine.scheduler.stats();
    return replicaView(s, serving(r.engine.runner.state) && !s.draining, this.entry.batchLanesMax);
  }

  /** A replica whose runner gave up (more restarts than its budget) gets a fresh runner and scheduler. */
  private replaceFailed(): void {
    const replace = this.options.replace;
    if (replace === undefined || this.closed) return;
    this.replicas.forEach((r, index) => {
      if (r.engine.runner.state !== "failed" || this.replacing.has(index)) return;
      if (this.replacements >= limits.replicaReplacementsMax) return;
      this.replacing.add(index);
      this.replacements++;
      void replace(index, r.device).then(
        (engine) => {
          this.replacing.delete(index);
          const old = this.replicas[index]!;
          if (this.closed) return void engine.close();
          this.replicas[index] = { device: r.device, engine };
          void old.engine.close().catch(() => undefined);
          this.options.onReplaced?.(index, r.device);
        },
        (err: unknown) => {
          this.replacing.delete(index);
          this.options.onReplaceFailed?.(index, r.device, err);
        },
      );
    });
  }
}
