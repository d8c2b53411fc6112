// Durable job and row state in the ledger database. Rows are claimed with a lease
// (SELECT … FOR UPDATE SKIP LOCKED), so several engine instances on one database share a job's rows,
// and a row whose instance died (its lease ran out) is claimed again by another.
import { budgetExhausted, rowFitsBudget, type BudgetState } from "./budget";
import { bytes, int, intOrNull, type JobsQueryable, type JobsSql, type Row } from "./sql";
import type { Claim, JobKey, JobRecord, JobStateName, NewJob, NewRow, RowCounts, RowKey, RowRecord } from "./types";

/**
 * Rows per INSERT when a job is created. Each statement commits on its own, so it is also how long the
 * embedded ledger (one PGlite session) is held at a time: 8 rows of 82 KB take ~16 ms there, where one
 * transaction over a whole upload took ~0.3 s per 100 rows and every control loop's hold and
 * settlement waited behind it (bench:priority --load job).
 */
const INSERT_ROWS_PER_STATEMENT = 8;
const ROW_COLUMNS = "customer_id, job_id, row_index, name, state, price_micros, start_encoding, start_height, start_width, start_bytes, actions_shape, actions_bytes, start_path, actions_path";
const ROW_PARAMS = 14;
/** Jobs one claim looks at, oldest first. */
const CLAIM_JOBS_MAX = 16;

export interface RowOutcome {
  state: "done" | "failed";
  frames: number;
  costMicros: number;
  error: string;
  atMs: number;
}

export class JobStore {
  constructor(private readonly sql: JobsSql) {}

  /**
   * Creates the job and its rows, or returns the existing job of that id (idempotent per customer).
   * The job goes in first and its rows follow in short statements, not one transaction (see
   * INSERT_ROWS_PER_STATEMENT): its first rows may run while the rest are written, and until all
   * rows_total are in, the job cannot end (finishJobIfDone, claim). A create that failed part-way is
   * completed by the same create again (the same content digest): the missing rows are inserted.
   * `sameContent` is false when a job of that id exists with another digest; nothing is written then.
   */
  async createJob(job: NewJob): Promise<{ job: JobRecord; created: boolean; sameContent: boolean }> {
    const inserted = await this.sql.query(
      `INSERT INTO jobs (customer_id, job_id, key_id, model, params, output, source, sink_dir, budget_micros, priority, state, rows_total, content_digest, created_at_ms, updated_at_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', $11, $12, $13, $13)
       ON CONFLICT (customer_id, job_id) DO NOTHING RETURNING job_id`,
      [job.customerId, job.jobId, job.keyId, job.model, job.params, job.output, job.source, job.sinkDir, job.budgetMicros, job.priority, job.rows.length, job.contentDigest, job.atMs],
    );
    const created = inserted.length > 0;
    const existing = created ? undefined : (await selectJob(this.sql, job))!;
    const sameContent = created || existing!.contentDigest === job.contentDigest;
    if (created || (sameContent && (await this.counts(job)).written < job.rows.length)) {
      for (let i = 0; i < job.rows.length; i += INSERT_ROWS_PER_STATEMENT) await insertRows(this.sql, job, i, job.rows.slice(i, i + INSERT_ROWS_PER_STATEMENT));
    }
    return { job: (await selectJob(this.sql, job))!, created, sameContent };
  }

  async getJob(key: JobKey): Promise<JobRecord | undefined> {
    return selectJob(this.sql, key);
  }

  /** The customer's jobs, newest first. */
  async listJobs(customerId: string, limit: number): Promise<JobRecord[]> {
    const rows = await this.sql.query(`SELECT * FROM jobs WHERE customer_id = $1 ORDER BY created_at_ms DESC, job_id DESC LIMIT $2`, [customerId, limit]);
    return rows.map(jobFrom);
  }

  async counts(key: JobKey): Promise<RowCounts> {
    const [r] = await this.sql.query(
      `SELECT count(*) FILTER (WHERE state = 'pending') AS pending, count(*) FILTER (WHERE state = 'running') AS running,
              count(*) FILTER (WHERE state = 'done') AS done, count(*) FILTER (WHERE state = 'failed') AS failed,
              coalesce(sum(frames), 0) AS frames, coalesce(sum(cost_micros), 0) AS cost, max(finished_at_ms) AS last_finished
       FROM job_rows WHERE customer_id = $1 AND job_id = $2`,
      [key.customerId, key.jobId],
    );
    const [pending, running, done, failed] = [int(r!.pending), int(r!.running), int(r!.done), int(r!.failed)];
    // Every row is in one of the four states (the table's CHECK), so together they are the rows written.
    return { pending, running, done, failed, written: pending + running + done + failed, frames: int(r!.frames), costMicros: int(r!.cost), lastFinishedAtMs: intOrNull(r!.last_finished) };
  }

  /**
   * Claims up to `max` rows of runnable jobs (oldest job first) for `instance` until `nowMs + leaseMs`:
   * pending rows and running rows whose lease ran out. A row starts only if it fits its job's budget;
   * a job whose next row can never fit (nothing in flight) is marked budget_exhausted here.
   */
  async claim(instance: string, nowMs: number, leaseMs: number, max: number): Promise<Claim[]> {
    if (max <= 0) return [];
    return this.sql.transaction(async (tx) => {
      const jobs = (await tx.query(`SELECT * FROM jobs WHERE state IN ('pending', 'running') ORDER BY created_at_ms, job_id LIMIT $1 FOR UPDATE SKIP LOCKED`, [CLAIM_JOBS_MAX])).map(jobFrom);
      const claims: Claim[] = [];
      // A fair share per job first, so one large job does not hold back the jobs behind it; then
      // whatever is left, oldest job first.
      const share = Math.max(1, Math.ceil(max / Math.max(jobs.length, 1)));
      for (const perJob of [share, max]) {
        for (const job of jobs) {
          const free = Math.min(perJob - claims.filter((c) => c.job.jobId === job.jobId && c.job.customerId === job.customerId).length, max - claims.length);
          if (free <= 0) continue;
          for (const row of await claimInJob(tx, job, instance, nowMs, leaseMs, free)) claims.push({ job, row });
        }
      }
      return claims;
    });
  }

  /** Moves the lease of rows `instance` still holds forward; returns the keys it no longer holds. */
  async renewLeases(instance: string, keys: RowKey[], untilMs: number): Promise<RowKey[]> {
    const lost: RowKey[] = [];
    for (const k of keys) {
      const r = await this.sql.query(`UPDATE job_rows SET lease_until_ms = $5 WHERE customer_id = $1 AND job_id = $2 AND row_index = $3 AND claimed_by = $4 AND state = 'running' RETURNING row_index`, [k.customerId, k.jobId, k.rowIndex, instance, untilMs]);
      if (r.length === 0) lost.push(k);
    }
    return lost;
  }

  /** Records a row's end; false when `instance` no longer holds it (its lease went to another). */
  async finishRow(key: RowKey, instance: string, outcome: RowOutcome): Promise<boolean> {
    const r = await this.sql.query(
      `UPDATE job_rows SET state = $5, frames = $6, cost_micros = $7, error = $8, finished_at_ms = $9, claimed_by = NULL, lease_until_ms = NULL
       WHERE customer_id = $1 AND job_id = $2 AND row_index = $3 AND claimed_by = $4 AND state = 'running' RETURNING row_index`,
      [key.customerId, key.jobId, key.rowIndex, instance, outcome.state, outcome.frames, outcome.costMicros, outcome.error, outcome.atMs],
    );
    if (r.length > 0) await this.touch(key, outcome.atMs);
    return r.length > 0;
  }

  /**
   * Gives a claimed row back as pending: after a retryable failure (attempts + 1), when the job stopped,
   * or at shutdown. `spentRequestId` bumps the row's request id generation (its old id's hold is settled).
   */
  async releaseRow(key: RowKey, instance: string, change: { failedAttempt: boolean; spentRequestId: boolean; error: string }): Promise<boolean> {
    const r = await this.sql.query(
      `UPDATE job_rows SET state = 'pending', claimed_by = NULL, lease_until_ms = NULL, error = $5,
              attempts = attempts + $6, request_gen = request_gen + $7
       WHERE customer_id = $1 AND job_id = $2 AND row_index = $3 AND claimed_by = $4 AND state = 'running' RETURNING row_index`,
      [key.customerId, key.jobId, key.rowIndex, instance, change.error, change.failedAttempt ? 1 : 0, change.spentRequestId ? 1 : 0],
    );
    return r.length > 0;
  }

  /** The row's request id was spent (voided, expired) before it ran here: the next attempt uses a fresh one. */
  async bumpRequestGen(key: RowKey, instance: string): Promise<number> {
    const r = await this.sql.query(`UPDATE job_rows SET request_gen = request_gen + 1 WHERE customer_id = $1 AND job_id = $2 AND row_index = $3 AND claimed_by = $4 RETURNING request_gen`, [key.customerId, key.jobId, key.rowIndex, instance]);
    if (r.length === 0) throw new Error(`row ${key.jobId}/${key.rowIndex} is no longer claimed by ${instance}`);
    return int(r[0]!.request_gen);
  }

  /** Sets the job's state when it is in one of `from`; returns whether it changed. */
  async setJobState(key: JobKey, state: JobStateName, error: string, atMs: number, from: readonly JobStateName[]): Promise<boolean> {
    const r = await this.sql.query(`UPDATE jobs SET state = $3, error = $4, updated_at_ms = $5 WHERE customer_id = $1 AND job_id = $2 AND state = ANY($6::text[]) RETURNING job_id`, [key.customerId, key.jobId, state, error, atMs, [...from]]);
    return r.length > 0;
  }

  /** Once no row is pending or running, a runnable job ends: succeeded, or failed when a row failed. */
  async finishJobIfDone(key: JobKey, atMs: number): Promise<JobStateName | undefined> {
    const c = await this.counts(key);
    if (c.pending > 0 || c.running > 0) return undefined;
    const job = await this.getJob(key);
    if (job === undefined || c.done + c.failed < job.rowsTotal) return undefined; // rows still being written
    const state: JobStateName = c.failed > 0 ? "failed" : "succeeded";
    const error = c.failed > 0 ? `${c.failed} of ${c.failed + c.done} rows failed after their retries` : "";
    return (await this.setJobState(key, state, error, atMs, ["pending", "running"])) ? state : undefined;
  }

  /** Every row in index order, without its input bytes (results.jsonl). */
  async rows(key: JobKey): Promise<RowRecord[]> {
    const rows = await this.sql.query(
      `SELECT customer_id, job_id, row_index, name, request_gen, state, attempts, price_micros, frames, cost_micros, error, claimed_by, lease_until_ms, start_path, actions_path, started_at_ms, finished_at_ms
       FROM job_rows WHERE customer_id = $1 AND job_id = $2 ORDER BY row_index`,
      [key.customerId, key.jobId],
    );
    return rows.map(rowFrom);
  }

  async jobStates(keys: JobKey[]): Promise<Map<string, JobStateName>> {
    const states = new Map<string, JobStateName>();
    for (const k of keys) {
      const job = await this.getJob(k);
      if (job) states.set(`${k.customerId}/${k.jobId}`, job.state);
    }
    return states;
  }

  private async touch(key: JobKey, atMs: number): Promise<void> {
    await this.sql.query(`UPDATE jobs SET updated_at_ms = greatest(updated_at_ms, $3) WHERE customer_id = $1 AND job_id = $2`, [key.customerId, key.jobId, atMs]);
  }
}

async function claimInJob(tx: JobsQueryable, job: JobRecord, instance: string, nowMs: number, leaseMs: number, max: number): Promise<RowRecord[]> {
  const key = [job.customerId, job.jobId];
  const [agg] = await tx.query(
    `SELECT coalesce(sum(cost_micros) FILTER (WHERE state IN ('done', 'failed')), 0) AS spent,
            coalesce(sum(price_micros) FILTER (WHERE state = 'running' AND lease_until_ms >= $3), 0) AS inflight,
            count(*) FILTER (WHERE state = 'running' AND lease_until_ms >= $3) AS live,
            count(*) FILTER (WHERE state = 'failed') AS failed,
            count(*) AS written
     FROM job_rows WHERE customer_id = $1 AND job_id = $2`,
    [...key, nowMs],
  );
  const budget: BudgetState = { budgetMicros: job.budgetMicros, spentMicros: int(agg!.spent), inflightMicros: int(agg!.inflight) };
  const live = int(agg!.live);
  const candidates = (
    await tx.query(
      `SELECT * FROM job_rows WHERE customer_id = $1 AND job_id = $2 AND (state = 'pending' OR (state = 'running' AND lease_until_ms < $3))
       ORDER BY row_index LIMIT $4 FOR UPDATE SKIP LOCKED`,
      [...key, nowMs, max],
    )
  ).map(rowFrom);
  const claimed: RowRecord[] = [];
  for (const row of candidates) {
    if (!rowFitsBudget(budget, row.priceMicros)) break;
    budget.inflightMicros += row.priceMicros;
    await tx.query(
      `UPDATE job_rows SET state = 'running', claimed_by = $4, lease_until_ms = $5, started_at_ms = coalesce(started_at_ms, $6)
       WHERE customer_id = $1 AND job_id = $2 AND row_index = $3`,
      [...key, row.rowIndex, instance, nowMs + leaseMs, nowMs],
    );
    claimed.push({ ...row, state: "running", claimedBy: instance, leaseUntilMs: nowMs + leaseMs, startedAtMs: row.startedAtMs ?? nowMs });
  }
  if (claimed.length > 0) {
    await tx.query(`UPDATE jobs SET state = 'running', first_started_at_ms = coalesce(first_started_at_ms, $3), updated_at_ms = $3 WHERE customer_id = $1 AND job_id = $2 AND state IN ('pending', 'running')`, [...key, nowMs]);
  } else if (candidates.length === 0 && live === 0 && int(agg!.written) >= job.rowsTotal) {
    // Every row ended but the job was not closed (its last runner died in between): close it now.
    const failed = int(agg!.failed);
    const state = failed > 0 ? "failed" : "succeeded";
    await tx.query(`UPDATE jobs SET state = $3, error = $4, updated_at_ms = $5 WHERE customer_id = $1 AND job_id = $2`, [...key, state, failed > 0 ? `${failed} rows failed after their retries` : "", nowMs]);
  } else if (budgetExhausted(budget, candidates[0]?.priceMicros, live)) {
    const error = `stopped at the job's budget: ${budget.spentMicros} of ${job.budgetMicros} micros charged, the next row costs ${candidates[0]!.priceMicros}`;
    await tx.query(`UPDATE jobs SET state = 'budget_exhausted', error = $3, updated_at_ms = $4 WHERE customer_id = $1 AND job_id = $2`, [...key, error, nowMs]);
  }
  return claimed;
}

async function insertRows(tx: JobsQueryable, job: NewJob, first: number, rows: NewRow[]): Promise<void> {
  const values: string[] = [];
  const params: unknown[] = [];
  rows.forEach((r, i) => {
    const base = i * ROW_PARAMS;
    values.push(`(${Array.from({ length: ROW_PARAMS }, (_, j) => `$${base + j + 1}`).join(", ")})`);
    params.push(job.customerId, job.jobId, first + i, r.name, "pending", r.priceMicros, r.start?.encoding ?? null, r.start?.height ?? null, r.start?.width ?? null, r.start ? Buffer.from(r.start.bytes) : null, r.actions ? JSON.stringify(r.actions.shape) : null, r.actions ? Buffer.from(r.actions.bytes) : null, r.startPath ?? null, r.actionsPath ?? null);
  });
  await tx.query(`INSERT INTO job_rows (${ROW_COLUMNS}) VALUES ${values.join(", ")} ON CONFLICT DO NOTHING`, params);
}

async function selectJob(q: JobsQueryable, key: JobKey): Promise<JobRecord | undefined> {
  const rows = await q.query(`SELECT * FROM jobs WHERE customer_id = $1 AND job_id = $2`, [key.customerId, key.jobId]);
  return rows.length === 0 ? undefined : jobFrom(rows[0]!);
}

function jobFrom(r: Row): JobRecord {
  return {
    customerId: r.customer_id as string,
    jobId: r.job_id as string,
    keyId: r.key_id as string,
    model: r.model as string,
    params: r.params as string,
    output: r.output as string,
    source: r.source as string,
    sinkDir: r.sink_dir as string,
    budgetMicros: int(r.budget_micros),
    priority: int(r.priority),
    state: r.state as JobStateName,
    error: r.error as string,
    rowsTotal: int(r.rows_total),
    contentDigest: r.content_digest as string,
    firstStartedAtMs: intOrNull(r.first_started_at_ms),
    createdAtMs: int(r.created_at_ms),
    updatedAtMs: int(r.updated_at_ms),
  };
}

function rowFrom(r: Row): RowRecord {
  const startBytes = bytes(r.start_bytes);
  const actionsBytes = bytes(r.actions_bytes);
  return {
    customerId: r.customer_id as string,
    jobId: r.job_id as string,
    rowIndex: int(r.row_index),
    name: r.name as string,
    requestGen: int(r.request_gen),
    state: r.state as RowRecord["state"],
    attempts: int(r.attempts),
    priceMicros: int(r.price_micros),
    frames: int(r.frames),
    costMicros: int(r.cost_micros),
    error: r.error as string,
    claimedBy: (r.claimed_by as string | null) ?? null,
    leaseUntilMs: intOrNull(r.lease_until_ms),
    start: startBytes ? { encoding: int(r.start_encoding), height: int(r.start_height), width: int(r.start_width), bytes: startBytes } : null,
    actions: actionsBytes ? { shape: JSON.parse(r.actions_shape as string) as number[], bytes: actionsBytes } : null,
    startPath: (r.start_path as string | null) ?? null,
    actionsPath: (r.actions_path as string | null) ?? null,
    startedAtMs: intOrNull(r.started_at_ms),
    finishedAtMs: intOrNull(r.finished_at_ms),
  };
}
