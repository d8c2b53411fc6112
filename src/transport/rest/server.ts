// The REST/JSON transport: node:http in front of the SAME MethodTable the gRPC server serves.
// Per request it builds a CallContext, turns the HTTP request into the handler's request message
// (transcode.ts, or a media adapter for multipart predict), calls the handler and renders the result or
// the ServiceError. Auth, rate limits and billing live in the service, never here; this transport only
// runs a method's guard (MethodImpl.admit) on the headers before it reads the body, so that a caller
// without a valid key never makes us read, buffer or parse an upload.
//
// This file only composes the parts, each in its own file: dispatch.ts (one request's lifecycle and
// routing), call-route.ts (guard → body → handler → JSON / media / NDJSON), read-request.ts (JSON and
// multipart bodies), continue.ts (Expect: 100-continue), exact-routes.ts and webhook.ts (the routes the
// proto does not describe), connections.ts (unread bodies), listen.ts (bind and close).

import * as http from "node:http";
import { systemClock } from "../../core/clock";
import { limits as defaultLimits } from "../../core/limits";
import type { MethodTable } from "../../service/context";
import { BodyInvitations } from "./continue";
import { loadApi, type Api } from "./descriptors";
import { handleRequest, serviceErrorOf, type DispatchDeps } from "./dispatch";
import { ArenaPool } from "../arena-pool";
import { exactRoutes, OPENAPI_PATH, STRIPE_WEBHOOK_PATH } from "./exact-routes";
import { addressOf, closeServer, listenOn } from "./listen";
import { buildOpenApi } from "./openapi";
import type { RestServer, RestServerOptions } from "./options";
import { mediaAdapters } from "./predict-extras";
import { Router } from "./routes";

export { METRICS_PATH, OPENAPI_PATH, STRIPE_WEBHOOK_PATH } from "./exact-routes";
export type { ListenAddress, RawRoute, RequestEvent, RestExtras, RestLogger, RestServer, RestServerOptions, WebhookResult } from "./options";
export { wantsMedia } from "./call-route";
export { splitUrl } from "./dispatch";

export function createRestServer(options: RestServerOptions): RestServer {
  const limits = options.limits ?? defaultLimits;
  const extras = options.extras ?? {};
  const api = options.api ?? loadApi();
  checkKinds(api, options.methods);
  const router = new Router(api);
  const openapi = buildOpenApi(api, { stripeWebhook: extras.stripeWebhook !== undefined, webhookPath: STRIPE_WEBHOOK_PATH, openapiPath: OPENAPI_PATH });
  const invitations = new BodyInvitations(limits.httpBodyBytesMax);
  const reader = { limits, invitations, onBodyBytes: options.onBodyBytes };
  const deps: DispatchDeps = {
    ...reader,
    methods: options.methods,
    adapters: mediaAdapters(),
    mixedArenas: new ArenaPool(),
    toServiceError: serviceErrorOf(options.logger),
    clock: options.clock ?? systemClock,
    router,
    exact: exactRoutes(extras, openapi, reader),
    onRequestEnd: options.onRequestEnd,
  };
  const serve = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handleRequest(deps, req, res).catch((err) => {
      options.logger?.error({ err }, "REST request handling failed");
      res.destroy();
    });
  };
  const server = http.createServer({ maxHeaderSize: limits.httpHeaderBytesMax }, serve);
  // curl sends `Expect: 100-continue` before large uploads; the body is invited only once we mean to
  // read it (continue.ts), so an oversized or unauthenticated upload is answered before it is sent.
  server.on("checkContinue", (req: http.IncomingMessage, res: http.ServerResponse) => {
    invitations.expect(req, res);
    serve(req, res);
  });
  return {
    server,
    api,
    router,
    openapi,
    listen: (addr) => listenOn(server, addr),
    address: () => addressOf(server),
    close: () => closeServer(server),
  };
}

/** A handler registered with the wrong kind would be called with the wrong arguments: fail at start. */
function checkKinds(api: Api, methods: MethodTable): void {
  for (const m of api.methods) {
    const impl = methods.get(m.path);
    if (impl !== undefined && (impl.kind === "server-stream") !== m.responseStream) throw new Error(`${m.path}: MethodTable kind ${impl.kind} does not match the proto (${m.responseStream ? "server-stream" : "unary"})`);
  }
}
