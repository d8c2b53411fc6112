// The REST server's public shapes: what the composition root passes in (RestServerOptions, RestExtras)
// and gets back (RestServer), and the events it may observe. No behaviour lives here.

import type * as http from "node:http";
import type { Clock } from "../../core/clock";
import type { Limits } from "../../core/limits";
import type { CallContext, MethodTable } from "../../service/context";
import type { Api } from "./descriptors";
import type { Router } from "./routes";

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
