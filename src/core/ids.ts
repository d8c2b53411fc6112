import { randomUUID } from "node:crypto";
import { invalidArgument } from "./errors";
import { limits } from "./limits";

const REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

/** A client-supplied request id, or a fresh UUID. Request ids key idempotency and cancels. */
export function requestIdOrNew(given: string | undefined): string {
  if (given === undefined || given === "") return randomUUID();
  if (Buffer.byteLength(given) > limits.requestIdBytesMax || !REQUEST_ID.test(given)) {
    throw invalidArgument("request_id", `expected up to ${limits.requestIdBytesMax} characters of [A-Za-z0-9._:-], got ${JSON.stringify(given.slice(0, 80))}`);
  }
  return given;
}

/**
 * Request ids are chosen by clients, so they are unique per customer only: every place that keys state
 * by one (in-flight requests, engine ids, holds and settlements) keys it by this. "/" is in neither
 * alphabet (customer ids: cus_[A-Za-z0-9_]; request ids: REQUEST_ID above), so the key is unambiguous.
 */
export function scopedRequestId(customerId: string, requestId: string): string {
  return `${customerId}/${requestId}`;
}
