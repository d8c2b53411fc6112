// The jobs tables, versioned apart from billing's (their own version table and lock), so billing's
// schema stays billing's. Applied on both node-postgres and PGlite (same SQL). Never edit a shipped
// migration: add the next version.
import type { JobsSql } from "./sql";
import { int } from "./sql";

export interface JobsMigration {
  version: number;
  name: string;
  sql: string;
}

export const jobsMigrations: readonly JobsMigration[] = [
  {
    version: 1,
    name: "jobs and job rows, with leases",
    sql: `
CREATE TABLE jobs (
  customer_id     text NOT NULL,
  job_id          text NOT NULL,
  key_id          text NOT NULL,
  model           text NOT NULL,
  params          text NOT NULL,
  output          text NOT NULL,
  source          text NOT NULL,
  sink_dir        text NOT NULL,
  budget_micros   bigint NOT NULL CHECK (budget_micros >= 0),
  priority        integer NOT NULL,
  state           text NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled', 'budget_exhausted')),
  error           text NOT NULL DEFAULT '',
  rows_total      integer NOT NULL,
  first_started_at_ms bigint,
  created_at_ms   bigint NOT NULL,
  updated_at_ms   bigint NOT NULL,
  PRIMARY KEY (customer_id, job_id)
);
CREATE INDEX jobs_by_state ON jobs (state, created_at_ms);
CREATE INDEX jobs_by_customer ON jobs (customer_id, created_at_ms DESC);

CREATE TABLE job_rows (
  customer_id    text NOT NULL,
  job_id         text NOT NULL,
  row_index      integer NOT NULL,
  name           text NOT NULL,
  request_gen    integer NOT NULL DEFAULT 0,
  state          text NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
  attempts       integer NOT NULL DEFAULT 0,
  price_micros   bigint NOT NULL CHECK (price_micros > 0),
  frames         bigint NOT NULL DEFAULT 0,
  cost_micros    bigint NOT NULL DEFAULT 0,
  error          text NOT NULL DEFAULT '',
  claimed_by     text,
  lease_until_ms bigint,
  start_encoding integer,
  start_height   integer,
  start_width    integer,
  start_bytes    bytea,
  actions_shape  text,
  actions_bytes  bytea,
  start_path     text,
  actions_path   text,
  started_at_ms  bigint,
  finished_at_ms bigint,
  PRIMARY KEY (customer_id, job_id, row_index),
  FOREIGN KEY (customer_id, job_id) REFERENCES jobs (customer_id, job_id)
);
CREATE INDEX job_rows_claimable ON job_rows (customer_id, job_id, state, row_index);
`,
  },
  {
    version: 2,
    name: "jobs remember what their create said",
    // '' on jobs created before it: their creation was one transaction, so they never need finishing.
    sql: `ALTER TABLE jobs ADD COLUMN content_digest text NOT NULL DEFAULT '';`,
  },
];

// Arbitrary constant naming "dream-engine jobs migrations" for pg_advisory_xact_lock (billing's differs).
const JOBS_MIGRATION_LOCK_ID = 0x6a6f_6273;

const CREATE_VERSIONS_TABLE = `CREATE TABLE IF NOT EXISTS jobs_schema_migrations (
  version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`;

/** Applies pending jobs migrations, each in its own transaction under an advisory lock; returns those applied now. */
export async function migrateJobs(sql: JobsSql, list: readonly JobsMigration[] = jobsMigrations): Promise<number[]> {
  const applied: number[] = [];
  for (const m of list) {
    const done = await sql.transaction(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock($1)", [JOBS_MIGRATION_LOCK_ID]);
      await tx.exec(CREATE_VERSIONS_TABLE);
      const rows = await tx.query("SELECT 1 FROM jobs_schema_migrations WHERE version = $1", [m.version]);
      if (rows.length > 0) return true;
      await tx.exec(m.sql);
      await tx.query("INSERT INTO jobs_schema_migrations (version, name) VALUES ($1, $2)", [m.version, m.name]);
      return false;
    });
    if (!done) applied.push(m.version);
  }
  return applied;
}

export async function jobsSchemaVersion(sql: JobsSql): Promise<number> {
  const rows = await sql.query<{ v: unknown }>("SELECT coalesce(max(version), 0) AS v FROM jobs_schema_migrations");
  return int(rows[0]!.v);
}
