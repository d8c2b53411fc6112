// One admin route per CLI command, each a call of the billing facade with the body's fields. The
// routes check only the JSON types (naming the field); the facade checks the values, as it does for
// the CLI's direct calls, so both paths refuse the same input with the same message.
import { echo, invalidArgument, ServiceError } from "../../core/errors";
import type { OperatorBilling } from "./protocol";

type Body = Record<string, unknown>;
type Handler = (billing: OperatorBilling, params: string[], body: Body, query: URLSearchParams) => Promise<unknown>;

interface Route {
  method: "GET" | "POST";
  /** Matched against the whole path; capture groups are URL-encoded path segments. */
  pattern: RegExp;
  handler: Handler;
}

function field<T>(body: Body, name: string, type: "string" | "number" | "boolean", optional: boolean): T | undefined {
  const v = body[name];
  if (v === undefined && optional) return undefined;
  if (typeof v !== type || (type === "number" && !Number.isSafeInteger(v))) {
    throw invalidArgument(name, `expected ${type === "number" ? "a whole number" : `a ${type}`}${optional ? " or nothing" : ""}, got ${v === undefined ? "nothing" : typeof v}`);
  }
  return v as T;
}

const str = (b: Body, name: string) => field<string>(b, name, "string", false)!;
const optStr = (b: Body, name: string) => field<string>(b, name, "string", true);
const int = (b: Body, name: string) => field<number>(b, name, "number", false)!;
const optInt = (b: Body, name: string) => field<number>(b, name, "number", true);
const optBool = (b: Body, name: string) => field<boolean>(b, name, "boolean", true);

const SEGMENT = "([^/]+)";

const routes: Route[] = [
  { method: "POST", pattern: /^\/admin\/keys$/, handler: (b, _p, body) => b.createKey({ name: str(body, "name"), creditsMicros: optInt(body, "creditsMicros"), customerId: optStr(body, "customerId") }) },
  { method: "GET", pattern: /^\/admin\/keys$/, handler: (b, _p, _body, q) => b.listKeys(q.get("customer") ?? undefined) },
  { method: "POST", pattern: new RegExp(`^/admin/keys/${SEGMENT}/revoke$`), handler: (b, [keyId]) => b.revokeKey(keyId!) },
  { method: "POST", pattern: new RegExp(`^/admin/keys/${SEGMENT}/rate-limit$`), handler: (b, [keyId], body) => b.setRateLimit(keyId!, { ratePerS: int(body, "ratePerS"), burst: int(body, "burst") }) },
  { method: "POST", pattern: /^\/admin\/credits\/grant$/, handler: (b, _p, body) => b.grant(str(body, "customerId"), int(body, "amountMicros"), str(body, "idempotencyKey"), optStr(body, "description")) },
  { method: "GET", pattern: new RegExp(`^/admin/credits/${SEGMENT}$`), handler: (b, [customerId]) => b.balance(customerId!) },
  { method: "POST", pattern: /^\/admin\/ledger\/reconcile$/, handler: (b, _p, body) => b.reconcile({ repair: optBool(body, "repair") }) },
];

export interface Matched {
  handler: Handler;
  params: string[];
}

/** The route for a request, or the error to answer (404 unknown path, 405 known path, other method). */
export function matchRoute(method: string, pathname: string): Matched {
  const onPath = routes.map((r) => ({ r, m: r.pattern.exec(pathname) })).filter((x) => x.m !== null);
  const hit = onPath.find((x) => x.r.method === method);
  if (hit) return { handler: hit.r.handler, params: hit.m!.slice(1).map(decodeSegment) };
  if (onPath.length === 0) throw new ServiceError("NOT_FOUND", `no admin route ${echo(method)} ${echo(pathname)}`);
  throw new ServiceError("METHOD_NOT_ALLOWED", `${echo(method)} is not served on ${echo(pathname)}`, { allow: onPath.map((x) => x.r.method) });
}

/** Whether a method with no body is expected (GET) — the server reads no body for those. */
export const bodyless = (method: string): boolean => method === "GET";

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw invalidArgument("path", "a path segment is not valid percent-encoding");
  }
}
