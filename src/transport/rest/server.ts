// The REST/JSON transport: node:http in front of the SAME MethodTable the gRPC server serves.
// Per request it builds a CallContext, turns the HTTP request into the handler's request message
// (transcode.ts, or a media adapter for multipart predict), calls the handler and renders the result or
// the ServiceError. Auth, rate limits and billing live in the service, never here; this transport only
// runs a method's guard (MethodImpl.admit) on the headers before it reads the body, so that a caller
// without a valid key never makes us read, buffer or parse an upload.

import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { systemClock, type Clock } from "../../core/clock";
import { errorTable, ServiceError, type ErrorDetails, type Reason } from "../../core/errors";
import { limits as defaultLimits, type Limits } from "../../core/limits";
import type { CallContext, MethodTable, StreamHandler, UnaryHandler } from "../../service/context";
import { checkDeclaredLength, consumeBody, parseContentType, readBody, type MediaType } from "./body";
import { buildContext, requestIdFrom, type BuiltContext } from "./call-context";
import { loadApi, type Api } from "./descriptors";
import { errorBody, sendError } from "./errors";
import { decodeToJson, messageToJson } from "./json";
import { boundaryOf, MultipartParser, type FormPart } from "./multipart";
import { buildOpenApi } from "./openapi";
import { formLimits, mediaAdapters, summaryHeaders, type DecodedPredictResponse } from "./predict-extras";
import { NdjsonWriter, sendJson } from "./respond";
import { Router, type Route } from "./routes";
import { requestTree, toHandlerRequest } from "./transcode";

export const OPENAPI_PATH = "/v1/openapi.json";
export const METRICS_PATH = "/metrics";
export const STRIPE_WEBHOOK_PATH = "/v1/billing/stripe/webhook";

export interface WebhookResult {
  status: number;
  /** Objects are sent as JSON, strings as text/plain, bytes as application/octet-stream. */
  body: unknown;
  headers?: Record<string, string>;
}

/** A route the proto cannot describe and that is not a predict variant (e.g. GET /metrics). */
export interface RawRoute {
  method: string;
  path: string;
  handle: (req: http.IncomingMessage, res: http.ServerResponse, ctx: CallContext) => Promise<void>;
}

/** One finished HTTP exchange, for metrics (route is the template, never the raw path: bounded labels). */
export interface RequestEvent {
  method: string;
  route: string;
  status: number;
  reason: string | undefined;
  durationMs: number;
  requestId: string;
  /** The client went away before the response was complete. */
  aborted: boolean;
}

export interface RestExtras {
  /** Stripe webhook: the raw body bytes exactly as received (never parsed first) and the Stripe-Signature header. */
  stripeWebhook?: (rawBody: Buffer, signature: string | undefined, ctx: CallContext) => Promise<WebhookResult>;
  /** Prometheus exposition text for GET /metrics (no API key: scrape it on a private network). */
  metrics?: () => Promise<string>;
  /** Extra exact-path routes, checked before the transcoded ones. */
  rawRoutes?: RawRoute[];
}

/** The pino subset we use; pino.Logger satisfies it. */
export interface RestLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RestServerOptions {
  methods: MethodTable;
  extras?: RestExtras;
  limits?: Limits;
  logger?: RestLogger;
  clock?: Clock;
  /** The descriptors to route from; default: proto/dream/v1/dream.proto with the generated codecs. */
  api?: Api;
  /** Called once per request when its response is finished or aborted; `route` is the template. Must not throw. */
  onRequestEnd?: (route: string, status: number, durationMs: number, event: RequestEvent) => void;
  /** Body bytes handed to a reader (JSON, multipart, webhook), as they arrive; for tests and metrics. Must not throw. */
  onBodyBytes?: (bytes: number) => void;
}

export interface ListenAddress {
  host: string;
  port: number;
  url: string;
}

export interface RestServer {
  readonly server: http.Server;
  readonly api: Api;
  readonly router: Router;
  readonly openapi: Record<string, unknown>;
  /** `port`, "host:port", or {host, port}; host defaults to 127.0.0.1 and port to 0 (any free port). Resolves with the bound port. */
  listen(addr?: number | string | { host?: string; port?: number }): Promise<number>;
  /** Where the server listens (after listen). */
  address(): ListenAddress | undefined;
  /** Stop accepting, close idle connections, let in-flight requests finish (forced after 10 s). */
  close(): Promise<void>;
}

/** How long an answered-but-unread upload may keep its socket while we discard the rest. */
const LINGER_MS = 2000;
const CLOSE_FORCE_MS = 10_000;

export function createRestServer(options: RestServerOptions): RestServer {
  const limits = options.limits ?? defaultLimits;
  const clock = options.clock ?? systemClock;
  const extras = options.extras ?? {};
  const api = options.api ?? loadApi();
  const router = new Router(api);
  // A handler registered with the wrong kind would be called with the wrong arguments: fail at start.
  for (const m of api.methods) {
    const impl = options.methods.get(m.path);
    if (impl !== undefined && (impl.kind === "server-stream") !== m.responseStream) throw new Error(`${m.path}: MethodTable kind ${impl.kind} does not match the proto (${m.responseStream ? "server-stream" : "unary"})`);
  }
  const adapters = mediaAdapters();
  const openapi = buildOpenApi(api, { stripeWebhook: extras.stripeWebhook !== undefined, webhookPath: STRIPE_WEBHOOK_PATH, openapiPath: OPENAPI_PATH });
  const openapiBytes = Buffer.from(JSON.stringify(openapi));
  const log = options.logger;
  const onBodyBytes = options.onBodyBytes;
  // Requests that sent `Expect: 100-continue` and are still waiting for our invitation to send the body.
  const awaitingContinue = new WeakMap<http.IncomingMessage, http.ServerResponse>();
  /** Invites a waiting client to send its body: only once we are about to read it (after the guard). */
  const inviteBody = (req: http.IncomingMessage): void => {
    const res = awaitingContinue.get(req);
    if (res === undefined) return;
    awaitingContinue.delete(req);
    if (!res.headersSent) res.writeContinue();
  };

  const exact = new Map<string, Map<string, RawRoute["handle"]>>();
  const addExact = (method: string, path: string, handle: RawRoute["handle"]): void => {
    if (!exact.has(path)) exact.set(path, new Map());
    exact.get(path)!.set(method.toUpperCase(), handle);
  };
  addExact("GET", OPENAPI_PATH, async (_req, res) => {
    res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": String(openapiBytes.length), "cache-control": "public, max-age=300" });
    res.end(openapiBytes);
  });
  addExact("POST", STRIPE_WEBHOOK_PATH, (req, res, ctx) => stripeWebhook(req, res, ctx));
  const metrics = extras.metrics;
  if (metrics !== undefined)
    addExact("GET", METRICS_PATH, async (_req, res) => {
      const text = Buffer.from(await metrics());
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8", "content-length": String(text.length), "cache-control": "no-store" });
      res.end(text);
    });
  for (const r of extras.rawRoutes ?? []) addExact(r.method, r.path, r.handle);

  async function stripeWebhook(req: http.IncomingMessage, res: http.ServerResponse, ctx: CallContext): Promise<void> {
    if (extras.stripeWebhook === undefined) throw new ServiceError("TOPUPS_NOT_CONFIGURED", "Stripe is not configured on this server");
    inviteBody(req);
    const raw = await readBody(req, limits.httpBodyBytesMax, onBodyBytes);
    const signature = req.headers["stripe-signature"];
    const out = canonicalWebhookError(await extras.stripeWebhook(raw, Array.isArray(signature) ? signature[0] : signature, ctx), ctx.requestId);
    const headers = { ...Object.fromEntries(ctx.responseHeaders), ...(out.headers ?? {}) };
    if (Buffer.isBuffer(out.body) || out.body instanceof Uint8Array) {
      res.writeHead(out.status, { "content-type": "application/octet-stream", ...headers, "content-length": String(out.body.byteLength) });
      res.end(out.body);
    } else if (typeof out.body === "string") {
      res.writeHead(out.status, { "content-type": "text/plain; charset=utf-8", ...headers, "content-length": String(Buffer.byteLength(out.body)) });
      res.end(out.body);
    } else sendJson(res, out.status, out.body ?? {}, headers);
  }

  async function readForm(req: http.IncomingMessage, type: MediaType): Promise<FormPart[]> {
    const parser = new MultipartParser(boundaryOf(type.params), formLimits(limits));
    inviteBody(req);
    await consumeBody(req, limits.httpBodyBytesMax, (chunk) => parser.write(chunk), onBodyBytes);
    return parser.end();
  }

  /** The handler's request message, and whether it came from a form (which makes media the default output). */
  async function readRequest(route: Route, pathParams: Map<string, string>, query: URLSearchParams, req: http.IncomingMessage): Promise<{ request: unknown; form: boolean }> {
    const adapter = adapters.get(route.method.path);
    let body: unknown;
    let form = false;
    if (route.binding.body !== undefined) {
      const type = parseContentType(req.headers["content-type"]);
      const accepted = adapter ? "application/json or multipart/form-data" : "application/json";
      if (type?.essence === "multipart/form-data" && adapter !== undefined) {
        body = adapter.fromForm(await readForm(req, type));
        form = true;
      } else if (type === undefined || type.essence === "application/json" || type.essence.endsWith("+json")) {
        const charset = type?.params.get("charset")?.toLowerCase();
        if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") throw new ServiceError("UNSUPPORTED_MEDIA_TYPE", `charset ${charset} not supported; send UTF-8 JSON`);
        inviteBody(req);
        const raw = await readBody(req, limits.httpBodyBytesMax, onBodyBytes);
        if (raw.length > 0) {
          if (type === undefined) throw new ServiceError("UNSUPPORTED_MEDIA_TYPE", `missing Content-Type; this endpoint accepts ${accepted}`);
          body = parseJson(raw);
        }
      } else throw new ServiceError("UNSUPPORTED_MEDIA_TYPE", `Content-Type ${type.essence} not accepted here; this endpoint accepts ${accepted}`, { given: type.essence });
    }
    const tree = requestTree(route, pathParams, query, body);
    if (adapter !== undefined && !form) adapter.applyHttpDefaults(tree);
    return { request: toHandlerRequest(route, tree), form };
  }

  async function callRoute(route: Route, pathParams: Map<string, string>, query: URLSearchParams, req: http.IncomingMessage, res: http.ServerResponse, ctx: CallContext): Promise<void> {
    const impl = options.methods.get(route.method.path);
    if (impl === undefined) throw new ServiceError("NOT_FOUND", `${route.method.path} is not served by this server`);
    // Auth and rate limit on the headers alone; a refusal is answered with the body unread (see
    // closeAfterResponse for what happens to the bytes the client keeps sending).
    const admission = await impl.admit(ctx);
    const { request, form } = await readRequest(route, pathParams, query, req);
    const method = route.method;

    if (method.responseStream) {
      const writer = new NdjsonWriter(res, () => Object.fromEntries(ctx.responseHeaders));
      const send = (message: unknown): Promise<void> => writer.write(decodeToJson(method.responseType, method.codec.responseSerialize(message)));
      try {
        await (impl.handler as StreamHandler<unknown, unknown>)(request, ctx, admission, send);
        writer.end();
      } catch (err) {
        if (!writer.hasStarted) throw err;
        writer.fail(toServiceError(err, ctx.requestId), ctx.requestId);
      }
      return;
    }

    const result = await (impl.handler as UnaryHandler<unknown, unknown>)(request, ctx, admission);
    const decoded = method.responseType.decode(method.codec.responseSerialize(result)) as unknown as Record<string, unknown>;
    const adapter = adapters.get(method.path);
    // Summary-derived headers first so that headers the handler set itself win.
    const headers: Record<string, string> = { ...(adapter ? summaryHeaders(decoded as DecodedPredictResponse) : {}), ...Object.fromEntries(ctx.responseHeaders) };
    if (adapter !== undefined && wantsMedia(req, form)) {
      await adapter.render(res, decoded as DecodedPredictResponse, headers);
      return;
    }
    let json: unknown = messageToJson(method.responseType, decoded);
    if (route.binding.responseBody !== undefined) json = (json as Record<string, unknown>)[route.binding.responseBody];
    sendJson(res, ctx.httpStatus ?? 200, json, headers);
  }

  function toServiceError(err: unknown, requestId: string): ServiceError {
    if (err instanceof ServiceError) return err;
    log?.error({ err, requestId }, "unexpected error in REST request");
    return ServiceError.from(err);
  }

  /**
   * After answering without reading the whole body (a 401/429 before the read, a 413): close the
   * connection, discarding the rest for a moment. Discarding is a resume() with no reader: bytes go
   * from the socket to nowhere, never into a buffer, and after LINGER_MS the socket is destroyed
   * whatever is left, so an unauthenticated upload costs at most LINGER_MS of reading, no memory.
   */
  function closeAfterResponse(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (!hasBody(req) || req.complete || res.headersSent || res.getHeader("connection") === "close") return;
    res.setHeader("connection", "close");
    res.once("finish", () => {
      // Closing with unread bytes would make the kernel send RST, and an RST can destroy the answer
      // before the client reads it; so drain briefly, then close regardless.
      req.resume();
      setTimeout(() => req.socket.destroy(), LINGER_MS).unref();
    });
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const startedUs = clock.nowUs();
    const requestId = requestIdFrom(req);
    res.setHeader("x-dreamengine-request-id", requestId);
    const method = (req.method ?? "GET").toUpperCase();
    let routeLabel = "unmatched";
    let reason: string | undefined;
    let built: BuiltContext | undefined;
    res.once("close", () => {
      built?.dispose();
      if (options.onRequestEnd === undefined) return;
      const durationMs = (clock.nowUs() - startedUs) / 1000;
      try {
        options.onRequestEnd(routeLabel, res.statusCode, durationMs, { method, route: routeLabel, status: res.statusCode, reason, durationMs, requestId, aborted: !res.writableFinished });
      } catch {
        // Metrics must never break a response.
      }
    });
    try {
      const { path, query } = splitUrl(req.url ?? "/");
      const exactRoute = exact.get(path);
      if (exactRoute !== undefined) {
        routeLabel = path;
        const handler = exactRoute.get(method) ?? (method === "HEAD" ? exactRoute.get("GET") : undefined);
        if (handler === undefined) return methodNotAllowed(req, res, requestId, [...exactRoute.keys()], path);
        built = buildContext(req, res, requestId, clock, limits);
        inviteBody(req); // exact routes carry no API key; they bound their own reads
        await handler(req, res, built.ctx);
        return;
      }
      const match = router.match(method, path);
      if (match.kind === "none") throw new ServiceError("NOT_FOUND", `no route for ${method} ${path.slice(0, 200)}`);
      if (match.kind === "method-not-allowed") return methodNotAllowed(req, res, requestId, match.allow, path);
      routeLabel = match.route.template.source;
      // A body on a route that takes none is never read: refuse a huge one and do not keep its connection.
      if (match.route.binding.body === undefined && hasBody(req)) {
        checkDeclaredLength(req, limits.httpBodyBytesMax);
        closeAfterResponse(req, res);
      }
      built = buildContext(req, res, requestId, clock, limits);
      await callRoute(match.route, match.pathParams, query, req, res, built.ctx);
    } catch (err) {
      const se = toServiceError(err, requestId);
      reason = se.reason;
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      closeAfterResponse(req, res);
      // Rate-limit headers a handler set before refusing (RateLimit, RateLimit-Policy) belong on the 429.
      sendError(res, se, requestId, built ? Object.fromEntries(built.ctx.responseHeaders) : {});
    }
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

  const serve = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(req, res).catch((err) => {
      log?.error({ err }, "REST request handling failed");
      res.destroy();
    });
  };
  const server = http.createServer({ maxHeaderSize: limits.httpHeaderBytesMax }, serve);
  // curl sends `Expect: 100-continue` before large uploads: invite the body only if its declared size
  // fits, so an oversized upload gets its 413 before a single body byte is sent.
  server.on("checkContinue", (req: http.IncomingMessage, res: http.ServerResponse) => {
    // Routed requests are invited only once their guard passed (inviteBody), so a request without a
    // valid key gets its 401/429 before sending a byte of its body.
    const declared = Number(req.headers["content-length"]);
    if (!(declared > limits.httpBodyBytesMax)) awaitingContinue.set(req, res);
    serve(req, res);
  });

  return {
    server,
    api,
    router,
    openapi,
    listen(addr) {
      const { host, port } = parseListenAddress(addr);
      return new Promise<number>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve((server.address() as AddressInfo).port);
        });
      });
    },
    address() {
      const a = server.address();
      if (a === null || typeof a === "string") return undefined;
      const shownHost = a.family === "IPv6" ? `[${a.address}]` : a.address;
      return { host: a.address, port: a.port, url: `http://${shownHost}:${a.port}` };
    },
    close() {
      return new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        const force = setTimeout(() => server.closeAllConnections(), CLOSE_FORCE_MS);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
    },
  };
}

/**
 * A webhook answer shaped {"error": {reason, message, …}} with a reason from the shared table is sent as
 * the documented error body every other route uses: code as the lower-case gRPC name, plus request_id.
 * (Its status stays the verifier's: e.g. 503 rather than 412 for TOPUPS_NOT_CONFIGURED, so Stripe
 * redelivers.) Anything else passes through untouched.
 */
function canonicalWebhookError(out: WebhookResult, requestId: string): WebhookResult {
  const e = out.status >= 400 && typeof out.body === "object" && out.body !== null ? (out.body as { error?: unknown }).error : undefined;
  if (typeof e !== "object" || e === null) return out;
  const { reason, message, code: _code, request_id: _id, ...details } = e as Record<string, unknown>;
  if (typeof reason !== "string" || !(reason in errorTable) || typeof message !== "string") return out;
  const body = errorBody(new ServiceError(reason as Reason, message, details as ErrorDetails), requestId);
  return { ...out, body, headers: { "cache-control": "no-store", ...(out.headers ?? {}) } };
}

const hasBody = (req: http.IncomingMessage): boolean => req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString("utf8"));
  } catch (err) {
    throw new ServiceError("INVALID_ARGUMENT", `body: not valid JSON (${(err as Error).message.slice(0, 120)})`, { field: "body" });
  }
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

/** Media (MP4 / multipart/mixed) is the default for form uploads; JSON callers opt in through Accept. */
export function wantsMedia(req: http.IncomingMessage, form: boolean): boolean {
  const types = (req.headers.accept ?? "")
    .toLowerCase()
    .split(",")
    .map((t) => t.split(";")[0]!.trim())
    .filter((t) => t !== "");
  const media = types.some((t) => t === "video/mp4" || t === "multipart/mixed" || t.startsWith("image/") || t === "application/octet-stream");
  if (media) return true;
  return form && !types.includes("application/json");
}

function parseListenAddress(addr: number | string | { host?: string; port?: number } | undefined): { host: string; port: number } {
  if (addr === undefined) return { host: "127.0.0.1", port: 0 };
  if (typeof addr === "number") return { host: "127.0.0.1", port: addr };
  if (typeof addr === "object") return { host: addr.host ?? "127.0.0.1", port: addr.port ?? 0 };
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (m) return { host: m[1] ?? (m[2] || "127.0.0.1"), port: Number(m[3]) };
  if (/^\d+$/.test(addr)) return { host: "127.0.0.1", port: Number(addr) };
  throw new Error(`listen address must be port, "host:port" or {host, port}; got ${JSON.stringify(addr)}`);
}

