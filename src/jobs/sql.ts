// The SQL seam jobs need: the billing ledger's driver (node-postgres or PGlite, same SQL) satisfies it
// structurally, so jobs share the ledger's one connection (PGlite's data dir opens once per process)
// without importing billing.
export type Row = Record<string, unknown>;

export interface JobsQueryable {
  query<T extends Row = Row>(sql: string, params?: unknown[]): Promise<T[]>;
  exec(sql: string): Promise<void>;
}

export interface JobsSql extends JobsQueryable {
  readonly kind: "pg" | "pglite";
  transaction<T>(fn: (tx: JobsQueryable) => Promise<T>): Promise<T>;
}

/** int8 arrives as a string from node-postgres and as a number from PGlite. */
export function int(value: unknown): number {
  const n = typeof value === "string" || typeof value === "bigint" ? Number(value) : (value as number);
  if (!Number.isSafeInteger(n)) throw new Error(`expected a safe integer from the database, got ${String(value)}`);
  return n;
}

export function intOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : int(value);
}

export function bytes(value: unknown): Uint8Array | null {
  if (value === null || value === undefined) return null;
  return value instanceof Uint8Array ? value : new Uint8Array(value as ArrayBuffer);
}
