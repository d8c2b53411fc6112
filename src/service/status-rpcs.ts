// Status.GetStatus and Status.Health: free, keyless, bounded per peer address.
import type { Clock } from "../core/clock";
import type { GetStatusResponse, HealthResponse, WindowStats } from "../gen/dream/v1/dream";
import type { WindowSnapshot } from "../observability/rolling";
import type { StatusRecorder } from "../observability/status";
import type { ModelRegistry } from "./registry";

export interface Readiness {
  draining(): boolean;
  /** Component → "ok" or the reason it is not. */
  checks(): Promise<Record<string, string>>;
}

const windowStats = (w: WindowSnapshot): WindowStats => ({
  window: w.window,
  requests: w.requests,
  errors: w.errors,
  errorRate: w.errorRate,
  p50Ms: w.p50Ms,
  p99Ms: w.p99Ms,
  meanBatchSize: w.meanBatchSize,
});

export function getStatus(models: ModelRegistry, status: StatusRecorder, readiness: Readiness, clock: Clock, startedWallMs: number, version: string): GetStatusResponse {
  const slots = models.list();
  const anyFailed = slots.some((s) => s.status === "failed");
  return {
    status: readiness.draining() ? "draining" : anyFailed ? "degraded" : "ok",
    uptimeS: Math.floor((clock.wallMs() - startedWallMs) / 1000),
    overall: status.overall.snapshot().map(windowStats),
    version,
    models: slots.map((s) => {
      const st = s.engine?.stats();
      return {
        slug: s.entry.slug,
        status: s.status,
        runnerState: st?.runnerState ?? "absent",
        queueDepth: st?.queueRequests ?? 0,
        runningRequests: st?.runningRequests ?? 0,
        runningLanes: st?.runningLanes ?? 0,
        windows: status.model(s.entry.slug).snapshot().map(windowStats),
        runnerRestarts: st?.runnerRestarts ?? 0,
        pausedLanes: st?.pausedLanes ?? 0,
        evictions: st?.evictions ?? 0,
        replicas: (st?.replicas ?? []).map((r) => ({ index: r.index, device: r.device, runnerState: r.runnerState, queuedLanes: r.queueLanes, runningLanes: r.runningLanes, runnerRestarts: r.runnerRestarts, pausedLanes: r.pausedLanes })),
      };
    }),
  };
}

export async function health(models: ModelRegistry, readiness: Readiness): Promise<HealthResponse> {
  const checks = await readiness.checks();
  for (const s of models.list()) {
    if (s.engine || s.status === "loading" || s.status === "failed") checks[`model:${s.entry.slug}`] = s.status === "live" ? "ok" : s.status;
  }
  const ready = !readiness.draining() && Object.values(checks).every((v) => v === "ok");
  const starting = models.list().some((s) => s.status === "loading");
  return { status: readiness.draining() ? "draining" : ready ? "ok" : starting ? "starting" : "degraded", live: true, ready, checks };
}
