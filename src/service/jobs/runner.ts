// Per engine instance: a background loop that claims rows of runnable jobs (leased, so instances on
// one database share them and a dead instance's rows are claimed again once its lease runs out), runs
// a few at once (limits.jobRowsInFlightMax, so the scheduler can batch them at BATCH priority), renews
// the leases of rows in flight, stops rows of jobs cancelled anywhere, and keeps each job's
// results.jsonl in step with the database.
import { randomBytes } from "node:crypto";
import { limits } from "../../core/limits";
import { resolveUnder } from "../../jobs/paths";
import { resultsText, writeResults } from "../../jobs/results";
import { RUNNABLE_JOB_STATES, type Claim, type JobKey, type RowKey } from "../../jobs/types";
import { runRow, type RowEnd, type RowRunDeps } from "./row-run";

export interface JobRunnerOptions {
  /** How long a claim lasts without renewal; a dead instance's rows are claimed again after it. */
  leaseMs?: number;
  /** How often to look for claimable rows when nothing else wakes the loop. */
  pollMs?: number;
  rowsInFlightMax?: number;
}

interface InFlight {
  claim: Claim;
  abort: AbortController;
  done: Promise<void>;
}

const keyOf = (k: JobKey): string => `${k.customerId}/${k.jobId}`;
const rowKeyOf = (k: RowKey): string => `${k.customerId}/${k.jobId}/${k.rowIndex}`;
/** Pause after the engine or ledger said "not now" (model loading, ledger down). */
const UNAVAILABLE_BACKOFF_MS = 1000;

export class JobRunner {
  readonly instanceId: string;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly rowsInFlightMax: number;
  private readonly inflight = new Map<string, InFlight>();
  private readonly results = new Map<string, { writing: Promise<void>; again: boolean }>();
  /** Throttled results.jsonl rewrites due (limits.jobResultsWriteIntervalMs), by job. */
  private readonly resultsDue = new Map<string, { timer: NodeJS.Timeout; job: JobKey; sinkDir: string }>();
  private timers: NodeJS.Timeout[] = [];
  private ticking = false;
  private tickAgain = false;
  private stopping = false;
  private pausedUntilMs = 0;

  constructor(
    private readonly d: Omit<RowRunDeps, "instanceId"> & { instanceId?: string },
    options: JobRunnerOptions = {},
  ) {
    this.instanceId = d.instanceId ?? `engine-${process.pid}-${randomBytes(4).toString("hex")}`;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.pollMs = options.pollMs ?? 500;
    this.rowsInFlightMax = Math.min(options.rowsInFlightMax ?? limits.jobRowsInFlightMax, limits.jobRowsInFlightMax);
  }

  start(): void {
    if (this.timers.length > 0 || this.stopping) return;
    this.timers.push(setInterval(() => this.wake(), this.pollMs).unref());
    this.timers.push(setInterval(() => void this.renew(), Math.max(100, Math.floor(this.leaseMs / 3))).unref());
    this.wake();
  }

  /** Look for work now (a job was created, a row ended). */
  wake(): void {
    if (this.stopping || this.timers.length === 0) return;
    void this.tick();
  }

  /** A job was cancelled through this instance: stop its rows here at once (others see it at renewal). */
  cancelLocal(key: JobKey): void {
    for (const f of this.inflight.values()) if (keyOf(f.claim.job) === keyOf(key)) f.abort.abort();
  }

  get rowsInFlight(): number {
    return this.inflight.size;
  }

  /** Stops claiming, lets rows in flight finish for up to `graceMs`, then cancels the rest (they post what they generated). */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const all = () => Promise.all([...this.inflight.values()].map((f) => f.done));
    await Promise.race([all(), new Promise((r) => setTimeout(r, graceMs).unref())]);
    for (const f of this.inflight.values()) f.abort.abort();
    await all();
    await Promise.all([...this.resultsDue.values()].map((due) => this.writeResultsNow(due.job, due.sinkDir)));
    await Promise.all([...this.results.values()].map((r) => r.writing));
  }

  private async tick(): Promise<void> {
    if (this.ticking) {
      this.tickAgain = true;
      return;
    }
    this.ticking = true;
    try {
      do {
        this.tickAgain = false;
        const free = this.rowsInFlightMax - this.inflight.size;
        if (this.stopping || free <= 0 || this.d.clock.wallMs() < this.pausedUntilMs) break;
        const claims = await this.d.store.claim(this.instanceId, this.d.clock.wallMs(), this.leaseMs, free);
        for (const c of claims) this.launch(c);
      } while (this.tickAgain);
    } catch (err) {
      this.d.logger.error({ err: String(err) }, "claiming job rows failed; retrying");
    } finally {
      this.ticking = false;
    }
  }

  private launch(claim: Claim): void {
    const abort = new AbortController();
    const key = rowKeyOf(claim.row);
    const done = runRow({ ...this.d, instanceId: this.instanceId }, claim, abort.signal)
      .catch((err: unknown) => {
        this.d.logger.error({ jobId: claim.job.jobId, row: claim.row.rowIndex, err: String(err) }, "job row run failed; its lease will expire and it is claimed again");
        return "lost" as RowEnd;
      })
      .then((end) => this.afterRow(claim, end))
      .catch((err: unknown) => this.d.logger.error({ jobId: claim.job.jobId, err: String(err) }, "recording a job row's end failed"))
      .finally(() => {
        this.inflight.delete(key);
        this.wake();
      });
    this.inflight.set(key, { claim, abort, done });
  }

  private async afterRow(claim: Claim, end: RowEnd): Promise<void> {
    const job = claim.job;
    if (end === "unavailable") this.pausedUntilMs = this.d.clock.wallMs() + UNAVAILABLE_BACKOFF_MS;
    if (!(await this.mayHaveEnded(job, end))) {
      this.writeResultsSoon(job, job.sinkDir);
      return;
    }
    // results.jsonl first: a client that sees the job ended finds every row's line already there.
    await this.writeResultsNow(job, job.sinkDir);
    const now = this.d.clock.wallMs();
    if (end === "out-of-credits") {
      await this.d.store.setJobState(job, "budget_exhausted", "stopped: the customer's balance does not cover the next row (INSUFFICIENT_CREDITS); top up and create the job again", now, ["pending", "running"]);
    }
    await this.d.store.finishJobIfDone(job, now);
  }

  /** Whether this row's end can end the job (or it already ended): then results.jsonl is written at once. */
  private async mayHaveEnded(job: JobKey, end: RowEnd): Promise<boolean> {
    if (end === "out-of-credits") return true;
    const record = await this.d.store.getJob(job);
    if (record === undefined || !RUNNABLE_JOB_STATES.includes(record.state)) return true;
    const c = await this.d.store.counts(job);
    return c.pending === 0 && c.running === 0;
  }

  private writeResultsSoon(job: JobKey, sinkDir: string): void {
    const k = keyOf(job);
    if (this.resultsDue.has(k)) return;
    const timer = setTimeout(() => void this.writeResultsNow(job, sinkDir), limits.jobResultsWriteIntervalMs).unref();
    this.resultsDue.set(k, { timer, job, sinkDir });
  }

  private writeResultsNow(job: JobKey, sinkDir: string): Promise<void> {
    const due = this.resultsDue.get(keyOf(job));
    if (due !== undefined) {
      clearTimeout(due.timer);
      this.resultsDue.delete(keyOf(job));
    }
    return this.writeResultsOf(job, sinkDir);
  }

  /** Rewrites the job's results.jsonl from the database; writes requested meanwhile coalesce into one more. */
  private writeResultsOf(job: JobKey, sinkDir: string): Promise<void> {
    const k = keyOf(job);
    const current = this.results.get(k);
    if (current) {
      current.again = true;
      return current.writing;
    }
    const entry = { writing: Promise.resolve(), again: false };
    entry.writing = (async () => {
      do {
        entry.again = false;
        try {
          const rows = await this.d.store.rows(job);
          await writeResults(resolveUnder(this.d.jobsRoot, sinkDir, "sink.dir"), rows);
          // Another instance may have renamed a newer file over ours just before our older one landed.
          // Once no row runs (the job's end, or a stop) whoever renamed last checks that what it wrote
          // is still current, so the final file converges; while rows run, their ends rewrite it anyway.
          const now = await this.d.store.rows(job);
          if (!now.some((r) => r.state === "running") && resultsText(now) !== resultsText(rows)) entry.again = true;
        } catch (err) {
          this.d.logger.error({ jobId: job.jobId, err: String(err) }, "writing results.jsonl failed");
        }
      } while (entry.again);
      this.results.delete(k);
    })();
    this.results.set(k, entry);
    return entry.writing;
  }

  /** Moves our leases forward and stops rows whose job was cancelled (by any instance) or whose lease went to another. */
  private async renew(): Promise<void> {
    if (this.inflight.size === 0) return;
    const flights = [...this.inflight.values()];
    try {
      const lost = new Set((await this.d.store.renewLeases(this.instanceId, flights.map((f) => f.claim.row), this.d.clock.wallMs() + this.leaseMs)).map(rowKeyOf));
      const states = await this.d.store.jobStates(flights.map((f) => f.claim.job));
      for (const f of flights) {
        if (lost.has(rowKeyOf(f.claim.row)) || states.get(keyOf(f.claim.job)) === "cancelled") f.abort.abort();
      }
    } catch (err) {
      this.d.logger.error({ err: String(err) }, "renewing job row leases failed");
    }
  }
}
