// POST /v1/billing/stripe/webhook: the raw body passed through to the verifier exactly as received
// (Stripe signs the bytes, so they are never parsed first), and its answer sent as it chose, except
// that an error in the shared vocabulary is rendered like every other route's.

import type * as http from "node:http";
import { errorTable, ServiceError, type ErrorDetails, type Reason } from "../../core/errors";
import type { CallContext } from "../../service/context";
import { errorBody } from "./errors";
import type { RestExtras, WebhookResult } from "./options";
import { readWholeBody, type BodyReader } from "./read-request";
import { sendJson } from "./respond";

export async function serveStripeWebhook(verify: RestExtras["stripeWebhook"], reader: BodyReader, req: http.IncomingMessage, res: http.ServerResponse, ctx: CallContext): Promise<void> {
  if (verify === undefined) throw new ServiceError("TOPUPS_NOT_CONFIGURED", "Stripe is not configured on this server");
  const raw = await readWholeBody(req, reader);
  const signature = req.headers["stripe-signature"];
  const out = canonicalWebhookError(await verify(raw, Array.isArray(signature) ? signature[0] : signature, ctx), ctx.requestId);
  const headers = { ...Object.fromEntries(ctx.responseHeaders), ...(out.headers ?? {}) };
  if (Buffer.isBuffer(out.body) || out.body instanceof Uint8Array) {
    res.writeHead(out.status, { "content-type": "application/octet-stream", ...headers, "content-length": String(out.body.byteLength) });
    res.end(out.body);
  } else if (typeof out.body === "string") {
    res.writeHead(out.status, { "content-type": "text/plain; charset=utf-8", ...headers, "content-length": String(Buffer.byteLength(out.body)) });
    res.end(out.body);
  } else sendJson(res, out.status, out.body ?? {}, headers);
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
