// One migration runner for both drivers. An advisory transaction lock serializes concurrent starters
// (several servers booting against one Postgres); each version applies in its own transaction.
import { assert } from "../../core/assert";
import type { Migration } from "./migrations";
import { toInt, type SqlDriver } from "./sql-driver";

// Arbitrary constant naming "dream-engine billing migrations" for pg_advisory_xact_lock.
const MIGRATION_LOCK_ID = 0x6472_6561;

const CREATE_VERSIONS_TABLE = `CREATE TABLE IF NOT EXISTS billing_schema_migrations (
  version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`;

export async function migrate(driver: SqlDriver, list: readonly Migration[]): Promise<number[]> {
  for (let i = 1; i < list.length; i++) assert(list[i]!.version === list[i - 1]!.version + 1, "migration versions must be consecutive");
  const applied: number[] = [];
  for (const m of list) {
    const done = await driver.transaction(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK_ID]);
      await tx.exec(CREATE_VERSIONS_TABLE);
      const rows = await tx.query("SELECT 1 FROM billing_schema_migrations WHERE version = $1", [m.version]);
      if (rows.length > 0) return true;
      await tx.exec(m.sql);
      await tx.query("INSERT INTO billing_schema_migrations (version, name) VALUES ($1, $2)", [m.version, m.name]);
      return false;
    });
    if (!done) applied.push(m.version);
  }
  return applied;
}

export async function schemaVersion(driver: SqlDriver): Promise<number> {
  const rows = await driver.query<{ v: unknown }>("SELECT coalesce(max(version), 0) AS v FROM billing_schema_migrations");
  return toInt(rows[0]!.v);
}
