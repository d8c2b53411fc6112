// The CLI's side of the admin socket: the OperatorBilling operations as HTTP calls to a running
// server. Errors come back as the ServiceError the server's facade threw (reason, message, details),
// so the CLI reports them exactly as it reports its own.
import http from "node:http";
import { errorTable, ServiceError, type ErrorDetails, type Reason } from "../../core/errors";
import { limits } from "../../core/limits";
import type { BalanceView, CreateKeyInput, CreditResult, KeyInfo, ReconcileReport } from "../../billing";
import type { ReconcileOptions } from "../../billing/reconcile";
import { adminPaths, type OperatorBilling } from "./protocol";

type CreatedKey = Awaited<ReturnType<OperatorBilling["createKey"]>>;

export class AdminClient implements OperatorBilling {
  constructor(
    readonly socketPath: string,
    private readonly token: string,
  ) {}

  createKey(input: CreateKeyInput): Promise<CreatedKey> {
    return this.call("POST", adminPaths.keys, input);
  }
  listKeys(customerId?: string): Promise<KeyInfo[]> {
    return this.call("GET", customerId === undefined ? adminPaths.keys : `${adminPaths.keys}?customer=${encodeURIComponent(customerId)}`);
  }
  revokeKey(keyId: string): Promise<KeyInfo> {
    return this.call("POST", adminPaths.revoke(keyId), {});
  }
  setRateLimit(keyId: string, rateLimit: { ratePerS: number; burst: number }): Promise<KeyInfo> {
    return this.call("POST", adminPaths.rateLimit(keyId), rateLimit);
  }
  grant(customerId: string, amountMicros: number, idempotencyKey: string, description?: string): Promise<CreditResult> {
    return this.call("POST", adminPaths.grant, { customerId, amountMicros, idempotencyKey, description });
  }
  balance(customerId: string): Promise<BalanceView> {
    return this.call("GET", adminPaths.balance(customerId));
  }
  reconcile(options: ReconcileOptions = {}): Promise<ReconcileReport> {
    // Only `repair` travels: a predicate cannot, and the CLI never passes one.
    return this.call("POST", adminPaths.reconcile, { repair: options.repair });
  }

  private call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: http.OutgoingHttpHeaders = { authorization: `Bearer ${this.token}`, accept: "application/json" };
    if (payload) Object.assign(headers, { "content-type": "application/json", "content-length": payload.length });
    return new Promise<T>((resolve, reject) => {
      const req = http.request({ socketPath: this.socketPath, method, path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on("data", (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > limits.adminResponseBytesMax) res.destroy(new Error(`the server's answer is over ${limits.adminResponseBytesMax} bytes`));
          else chunks.push(chunk);
        });
        res.once("error", reject);
        res.once("end", () => {
          try {
            const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8"));
            if (res.statusCode === 200) resolve(parsed as T);
            else reject(errorFrom(res.statusCode ?? 0, parsed));
          } catch (err) {
            reject(new Error(`unreadable answer from the server on ${this.socketPath} (HTTP ${res.statusCode}): ${(err as Error).message}`));
          }
        });
      });
      req.once("error", reject);
      req.end(payload);
    });
  }
}

/** The server's error body back as the ServiceError it was rendered from. */
function errorFrom(status: number, body: unknown): ServiceError {
  const e = (body as { error?: Record<string, unknown> } | null)?.error;
  if (!e || typeof e.reason !== "string" || !(e.reason in errorTable)) return new ServiceError("INTERNAL", `the server answered HTTP ${status} without an error body`);
  const { reason, message, code: _code, request_id: _id, ...details } = e;
  return new ServiceError(reason as Reason, String(message ?? ""), details as ErrorDetails);
}
