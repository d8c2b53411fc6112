// A ModelScheduler driving a runner → the service's ModelEngine.
import type { CatalogEntry } from "../config/catalog";
import type { ModelScheduler } from "../scheduler";
import type { CancelOutcome, EngineRequest, EngineSink, EngineStats, ModelEngine } from "../service/ports";

export interface RunnerHandle {
  readonly state: string;
  readonly restarts: number;
  close(): Promise<void>;
}

export class SchedulerEngine<R extends RunnerHandle = RunnerHandle> implements ModelEngine {
  constructor(
    readonly entry: CatalogEntry,
    readonly scheduler: ModelScheduler,
    /** Exposed for operators' tooling and fault-injection tests (chunk counters, injectFault). */
    readonly runner: R,
  ) {}

  submit(request: EngineRequest, sink: EngineSink): void {
    let queueUs = 0;
    this.scheduler.submit(
      {
        requestId: request.requestId,
        lanes: request.lanes,
        startFrame: request.startFrame,
        numSteps: request.numSteps,
        guidance: request.guidance,
        seed: request.seed,
        deadlineUs: request.deadlineUs,
        ...(request.score ? { score: request.score } : {}),
        ...(request.chunkwise ? { chunkwise: true } : {}),
        ...(request.priority ? { priority: request.priority } : {}),
        ...(request.customerId !== undefined ? { customerId: request.customerId } : {}),
      },
      {
        onStart: (q) => {
          queueUs = q;
          sink.onStart?.(q);
        },
        onChunk: (chunk) => sink.onChunk(chunk),
        onEnd: (end) => sink.onEnd({ ...end, queueUs }),
      },
    );
  }

  cancel(requestId: string, candidateIndices?: number[]): CancelOutcome {
    const r = this.scheduler.cancel(requestId, candidateIndices);
    return r.known ? { found: true, cancelled: r.cancelled, stillRunning: r.stillRunning } : { found: false, cancelled: [], stillRunning: [] };
  }

  get scorers(): Readonly<Record<string, "frames" | "latent">> {
    return this.scheduler.scorers;
  }

  setGoal(goalKey: string, frames: Uint8Array): Promise<void> {
    return this.scheduler.setGoal({ goalKey, frames });
  }

  releaseGoal(goalKeys: string[]): void {
    this.scheduler.releaseGoal(goalKeys);
  }

  stats(): EngineStats {
    const s = this.scheduler.stats();
    return {
      queueRequests: s.queuedRequests,
      queueLanes: s.queuedLanes,
      runningRequests: s.runningRequests,
      runningLanes: s.runningLanes,
      runnerState: this.runner.state,
      runnerRestarts: this.runner.restarts,
      lastBatchLanes: s.lastBatchLanes,
      pausedLanes: s.pausedLanes,
      evictions: s.evictions,
    };
  }

  drain(): Promise<void> {
    return this.scheduler.drain();
  }

  close(): Promise<void> {
    return this.runner.close();
  }
}
