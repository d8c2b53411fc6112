// The one seam between the ledger's SQL and a Postgres engine. The same SQL text runs on node-postgres
// (a real server) and on PGlite (Postgres compiled to WASM), so both pass one conformance suite.
import { assert } from "../../core/assert";

export type Row = Record<string, unknown>;

export interface Queryable {
  query<T extends Row = Row>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Several statements, no parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface SqlDriver extends Queryable {
  readonly kind: "pg" | "pglite";
  /** BEGIN … COMMIT around fn; ROLLBACK and rethrow when fn throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * LISTEN on channel over a dedicated connection (node-postgres only: PGlite is one process, so no
   * other writer exists). onGap runs after a reconnect: notifications sent meanwhile were missed.
   */
  listen?(channel: string, onPayload: (payload: string) => void, onGap: () => void): Promise<Subscription>;
  close(): Promise<void>;
}

export interface Subscription {
  close(): Promise<void>;
}

/** int8 arrives as a string from node-postgres and as a number from PGlite; money must stay exact. */
export function toInt(value: unknown): number {
  const n = typeof value === "bigint" ? Number(value) : typeof value === "string" ? Number(value) : (value as number);
  assert(Number.isSafeInteger(n), `expected a safe integer from the database, got ${String(value)}`);
  return n;
}

export function toIntOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : toInt(value);
}

/** SQLSTATE of a Postgres error from either driver, if any. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

export const UNIQUE_VIOLATION = "23505";
export const CHECK_VIOLATION = "23514";
