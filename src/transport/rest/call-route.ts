// One transcoded route, end to end: run the method's guard on the headers, read the body into the
// handler's request message, call the SAME handler gRPC calls, and render its answer — JSON, media for
// the predict variants, or NDJSON for a server stream. Auth, rate limits and billing live in the
// service; this transport only decides that the guard runs before the body is read.

import type * as http from "node:http";
import { ServiceError } from "../../core/errors";
import type { Admission, CallContext, MethodImpl, MethodTable, StreamHandler, UnaryHandler } from "../../service/context";
import type { ApiMethod } from "./descriptors";
import { decodeToJson, messageToJson } from "./json";
import type { ArenaPool } from "../arena-pool";
import { mixedArenaCall } from "./mixed-arena";
import { summaryHeaders, type DecodedPredictResponse, type MediaAdapter } from "./predict-extras";
import { readRequest, type BodyReader } from "./read-request";
import { NdjsonWriter, sendJson, writeBody } from "./respond";
import type { Route } from "./routes";

export interface RouteDeps extends BodyReader {
  methods: MethodTable;
  adapters: Map<string, MediaAdapter>;
  /** Sent raw multipart bodies' buffers, for reuse by the next response of the same size. */
  mixedArenas?: ArenaPool;
  /** Any thrown value as the ServiceError to answer with (logging the unexpected ones). */
  toServiceError: (err: unknown, requestId: string) => ServiceError;
}

export interface MatchedRoute {
  route: Route;
  pathParams: Map<string, string>;
  query: URLSearchParams;
}

export async function callRoute(deps: RouteDeps, matched: MatchedRoute, req: http.IncomingMessage, res: http.ServerResponse, ctx: CallContext): Promise<void> {
  const { route } = matched;
  const impl = deps.methods.get(route.method.path);
  if (impl === undefined) throw new ServiceError("NOT_FOUND", `${route.method.path} is not served by this server`);
  // Auth and rate limit on the headers alone; a refusal is answered with the body unread (see
  // closeAfterResponse in connections.ts for what happens to the bytes the client keeps sending).
  const admission = await impl.admit(ctx);
  const adapter = deps.adapters.get(route.method.path);
  const { request, form } = await readRequest(route, matched.pathParams, matched.query, req, adapter, deps);
  if (route.method.responseStream) return streamNdjson(deps, route.method, impl, { request, admission }, res, ctx);

  const media = adapter !== undefined && wantsMedia(req, form);
  // A raw media answer is laid out as its multipart body while the chunks compute (mixed-arena.ts).
  const mixed = media ? mixedArenaCall(deps.mixedArenas) : undefined;
  if (mixed) ctx.rawResponseLayout = mixed.layout;
  let result: unknown;
  try {
    result = await (impl.handler as UnaryHandler<unknown, unknown>)(request, ctx, admission);
  } catch (err) {
    mixed?.arena()?.release();
    throw err;
  }
  const method = route.method;
  const arena = mixed?.arena();
  const body = arena && adapter ? arena.body(adapter.rawRollouts(result)) : undefined;
  if (arena && body === undefined) res.once("finish", () => arena.release()); // written the ordinary way, from views of it
  // The arena body carries the frames; only the rest of the message (the summary) is decoded.
  const decoded = method.responseType.decode(method.codec.responseSerialize(body ? adapter!.withoutFrames(result) : result)) as unknown as Record<string, unknown>;
  // Summary-derived headers first so that headers the handler set itself win.
  const headers: Record<string, string> = { ...(adapter ? summaryHeaders(decoded as DecodedPredictResponse) : {}), ...Object.fromEntries(ctx.responseHeaders) };
  if (body && arena) {
    // Released only once every byte is with the OS; a reset connection keeps its buffer out of the pool.
    res.once("finish", () => arena.release());
    await writeBody(res, 200, { ...headers, "content-type": arena.contentType, "content-length": String(body.byteLength) }, body);
    return;
  }
  if (media) {
    await adapter!.render(res, decoded as DecodedPredictResponse, headers);
    return;
  }
  let json: unknown = messageToJson(method.responseType, decoded);
  if (route.binding.responseBody !== undefined) json = (json as Record<string, unknown>)[route.binding.responseBody];
  sendJson(res, ctx.httpStatus ?? 200, json, headers);
}

/**
 * A server stream as NDJSON, one message per line. An error before the first line is answered like
 * any other (status + error body, by the caller); once lines went out the status is sent, so the
 * error becomes the stream's last line.
 */
async function streamNdjson(deps: RouteDeps, method: ApiMethod, impl: MethodImpl, call: { request: unknown; admission: Admission }, res: http.ServerResponse, ctx: CallContext): Promise<void> {
  const writer = new NdjsonWriter(res, () => Object.fromEntries(ctx.responseHeaders));
  const send = (message: unknown): Promise<void> => writer.write(decodeToJson(method.responseType, method.codec.responseSerialize(message)));
  try {
    await (impl.handler as StreamHandler<unknown, unknown>)(call.request, ctx, call.admission, send);
    writer.end();
  } catch (err) {
    if (!writer.hasStarted) throw err;
    writer.fail(deps.toServiceError(err, ctx.requestId), ctx.requestId);
  }
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
