// A job record and its row counts as the API's Job message: progress, cost so far, and rates measured
// from the first row's start (up to the last row's end once the job ended).
import { microsToUsdString } from "../../core/money";
import { Priority } from "../../gen/dream/v1/dream";
import { JobState, type Job } from "../../gen/dream/v1/jobs";
import type { JobRecord, JobStateName, RowCounts } from "../../jobs/types";

const STATES: Record<JobStateName, JobState> = {
  pending: JobState.JOB_PENDING,
  running: JobState.JOB_RUNNING,
  succeeded: JobState.JOB_SUCCEEDED,
  failed: JobState.JOB_FAILED,
  cancelled: JobState.JOB_CANCELLED,
  budget_exhausted: JobState.JOB_BUDGET_EXHAUSTED,
};

export function isTerminal(state: JobStateName): boolean {
  return state !== "pending" && state !== "running";
}

export interface Rates {
  rowsPerS: number;
  framesPerS: number;
  etaS: number;
}

/** Rows and frames per second since the first row started; ETA of the rows left at that rate. */
export function jobRates(job: Pick<JobRecord, "firstStartedAtMs" | "state">, counts: RowCounts, nowMs: number): Rates {
  if (job.firstStartedAtMs === null) return { rowsPerS: 0, framesPerS: 0, etaS: 0 };
  const endMs = isTerminal(job.state) ? (counts.lastFinishedAtMs ?? nowMs) : nowMs;
  const elapsedS = Math.max(endMs - job.firstStartedAtMs, 1) / 1000;
  const ended = counts.done + counts.failed;
  const rowsPerS = ended / elapsedS;
  const left = counts.pending + counts.running;
  const etaS = !isTerminal(job.state) && rowsPerS > 0 ? Math.ceil(left / rowsPerS) : 0;
  return { rowsPerS, framesPerS: counts.frames / elapsedS, etaS };
}

export function jobView(job: JobRecord, counts: RowCounts, nowMs: number): Job {
  const rates = jobRates(job, counts, nowMs);
  return {
    jobId: job.jobId,
    model: job.model,
    state: STATES[job.state],
    rowsTotal: job.rowsTotal,
    rowsDone: counts.done,
    rowsFailed: counts.failed,
    rowsPending: counts.pending,
    rowsRunning: counts.running,
    frames: counts.frames,
    cost: { micros: counts.costMicros, usd: microsToUsdString(counts.costMicros) },
    budgetMicros: job.budgetMicros,
    rowsPerS: rates.rowsPerS,
    framesPerS: rates.framesPerS,
    etaS: rates.etaS,
    createdAt: new Date(job.createdAtMs).toISOString(),
    updatedAt: new Date(job.updatedAtMs).toISOString(),
    sinkDir: job.sinkDir,
    error: job.error,
    priority: job.priority as Priority,
  };
}
