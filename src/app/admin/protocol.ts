// The operator admin protocol, shared by the server's routes and the CLI's client so the two cannot
// drift: where the socket and the token live, and the one interface both sides speak.
//
// Bodies are the billing facade's own arguments and results, field for field, so the CLI prints the
// same objects (and the same --json) whether a command ran in the server or in the CLI's process.
import path from "node:path";
import type { BillingService } from "../../billing";

/** The billing operations the operator CLI runs; BillingService has them, and so does AdminClient. */
export type OperatorBilling = Pick<BillingService, "createKey" | "listKeys" | "revokeKey" | "setRateLimit" | "grant" | "balance" | "reconcile">;

/** Inside the data directory: who may read the data dir (and these 0600 files) may run the CLI. */
export const SOCKET_FILE = "admin.sock";
export const TOKEN_FILE = "admin.token";

export const socketPathOf = (dataDir: string): string => path.join(dataDir, SOCKET_FILE);
export const tokenPathOf = (dataDir: string): string => path.join(dataDir, TOKEN_FILE);

/** Route paths, one per CLI command ({id} and {customer} are URL-encoded path segments). */
export const adminPaths = {
  keys: "/admin/keys",
  revoke: (keyId: string) => `/admin/keys/${encodeURIComponent(keyId)}/revoke`,
  rateLimit: (keyId: string) => `/admin/keys/${encodeURIComponent(keyId)}/rate-limit`,
  grant: "/admin/credits/grant",
  balance: (customerId: string) => `/admin/credits/${encodeURIComponent(customerId)}`,
  reconcile: "/admin/ledger/reconcile",
} as const;
