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
