// One HTTP request's lifecycle: pick the request id first (every answer carries it, errors included),
// route it — exact-path routes before the transcoded ones — build the CallContext, and turn whatever
// was thrown into the documented error answer. Reports each finished exchange for metrics.

import type * as http from "node:http";
import type { Clock } from "../../core/clock";
import { ServiceError } from "../../core/errors";
import { checkDeclaredLength } from "./body";
import { buildContext, requestIdFrom, type BuiltContext } from "./call-context";
import { callRoute, type RouteDeps } from "./call-route";
import { closeAfterResponse, hasBody } from "./connections";
import { sendError } from "./errors";
import type { ExactRoutes } from "./exact-routes";
import type { RestLogger, RestServerOptions } from "./options";
import type { Router } from "./routes";

export interface DispatchDeps extends RouteDeps {
  clock: Clock;
  router: Router;
  exact: ExactRoutes;
  onRequestEnd: RestServerOptions["onRequestEnd"];
}

/** What one request learned on its way, for its metrics event and its error answer. */
interface Exchange {
  requestId: string;
  method: string;
  routeLabel: string;
  reason: string | undefined;
  built: BuiltContext | undefined;
}

/** Any thrown value as the ServiceError to answer with; unexpected ones are logged, never shown. */
export const serviceErrorOf =
  (log: RestLogger | undefined) =>
  (err: unknown, requestId: string): ServiceError => {
    if (err instanceof ServiceError) return err;
    log?.error({ err, requestId }, "unexpected error in REST request");
    return ServiceError.from(err);
  };

export async function handleRequest(deps: DispatchDeps, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const startedUs = deps.clock.nowUs();
  const x: Exchange = { requestId: requestIdFrom(req), method: (req.method ?? "GET").toUpperCase(), routeLabel: "unmatched", reason: undefined, built: undefined };
  res.setHeader("x-dreamengine-request-id", x.requestId);
  res.once("close", () => {
    x.built?.dispose();
    if (deps.onRequestEnd === undefined) return;
    const durationMs = (deps.clock.nowUs() - startedUs) / 1000;
    try {
      deps.onRequestEnd(x.routeLabel, res.statusCode, durationMs, { method: x.method, route: x.routeLabel, status: res.statusCode, reason: x.reason, durationMs, requestId: x.requestId, aborted: !res.writableFinished });
    } catch {
      // Metrics must never break a response.
    }
  });
  try {
    await route(deps, x, req, res);
  } catch (err) {
    const se = deps.toServiceError(err, x.requestId);
    x.reason = se.reason;
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    closeAfterResponse(req, res);
    // Headers set on the context before the failure (an admitted call's RateLimit, RateLimit-Policy)
    // belong on its error too; a refusal's own (a 429's) travel on the error (ServiceError.headers).
    sendError(res, se, x.requestId, x.built ? Object.fromEntries(x.built.ctx.responseHeaders) : {});
  }
}

async function route(deps: DispatchDeps, x: Exchange, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const { path, query } = splitUrl(req.url ?? "/");
  const exactRoute = deps.exact.get(path);
  if (exactRoute !== undefined) {
    x.routeLabel = path;
    const handler = exactRoute.get(x.method) ?? (x.method === "HEAD" ? exactRoute.get("GET") : undefined);
    if (handler === undefined) return methodNotAllowed(req, res, x.requestId, [...exactRoute.keys()], path);
    x.built = buildContext(req, res, x.requestId, deps.clock, deps.limits);
    deps.invitations.invite(req); // exact routes carry no API key; they bound their own reads
    await handler(req, res, x.built.ctx);
    return;
  }
  const match = deps.router.match(x.method, path);
  if (match.kind === "none") throw new ServiceError("NOT_FOUND", `no route for ${x.method} ${path.slice(0, 200)}`);
  if (match.kind === "method-not-allowed") return methodNotAllowed(req, res, x.requestId, match.allow, path);
  x.routeLabel = match.route.template.source;
  // A body on a route that takes none is never read: refuse a huge one and do not keep its connection.
  if (match.route.binding.body === undefined && hasBody(req)) {
    checkDeclaredLength(req, deps.limits.httpBodyBytesMax);
    closeAfterResponse(req, res);
  }
  x.built = buildContext(req, res, x.requestId, deps.clock, deps.limits);
  await callRoute(deps, { route: match.route, pathParams: match.pathParams, query }, req, res, x.built.ctx);
}

function methodNotAllowed(req: http.IncomingMessage, res: http.ServerResponse, requestId: string, allow: string[], path: string): void {
  const allowHeader = [...new Set([...allow, "OPTIONS"])].sort().join(", ");
  closeAfterResponse(req, res);
  if (req.method === "OPTIONS") {
    res.writeHead(204, { allow: allowHeader });
    res.end();
    return;
  }
  const err = new ServiceError("METHOD_NOT_ALLOWED", `${req.method} not allowed on ${path.slice(0, 200)}; allowed: ${allowHeader}`, { allow });
  sendError(res, err, requestId, { allow: allowHeader });
}

/** Origin-form or absolute-form request target → raw (still encoded) path and parsed query. */
export function splitUrl(target: string): { path: string; query: URLSearchParams } {
  let t = target;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\/[^/?]*/i.exec(t);
  if (scheme) t = t.slice(scheme[0].length) || "/";
  const hash = t.indexOf("#");
  if (hash >= 0) t = t.slice(0, hash);
  const q = t.indexOf("?");
  return { path: q < 0 ? t : t.slice(0, q), query: new URLSearchParams(q < 0 ? "" : t.slice(q + 1)) };
}
