// A request message the generated decoder refuses is the caller's error, never INTERNAL: either the
// bytes are not a valid protobuf message, or they hold a 64-bit integer beyond 2^53−1 that the
// generated code's number fields cannot represent (e.g. seed = 2^64−1). Both transports answer
// INVALID_ARGUMENT, naming the field when there is one.
import * as protobuf from "protobufjs";
import { echo, invalidArgument, ServiceError } from "../core/errors";

const INT64_TYPES = new Set(["int64", "uint64", "sint64", "fixed64", "sfixed64"]);
/** Bounds what of a field path or decoder message we echo back. */
const ECHO_CHARS_MAX = 120;

/** Why `bytes` could not be decoded as `type`, as the error to answer with. */
export function requestDecodeError(type: protobuf.Type, bytes: Uint8Array, err: unknown): ServiceError {
  let message: protobuf.Message;
  try {
    // The reflection decoder reads 64-bit integers as Long, so it succeeds where the generated one threw.
    message = type.decode(bytes);
  } catch (e) {
    return malformed(type, e);
  }
  const unsafe = unsafeInteger(type, message, "");
  if (unsafe !== undefined) {
    return invalidArgument(unsafe.field, `${unsafe.value} is above Number.MAX_SAFE_INTEGER (${Number.MAX_SAFE_INTEGER}), the largest value this server can hold`, { given: unsafe.value });
  }
  return malformed(type, err);
}

function malformed(type: protobuf.Type, err: unknown): ServiceError {
  const why = echo(err instanceof Error ? err.message : String(err), ECHO_CHARS_MAX);
  return new ServiceError("INVALID_ARGUMENT", `the request is not a valid ${type.fullName.replace(/^\./, "")} protobuf message (${why})`);
}

/** The first 64-bit integer field (depth first) outside ±(2^53−1), as a field path and decimal string. */
function unsafeInteger(type: protobuf.Type, message: protobuf.Message, prefix: string): { field: string; value: string } | undefined {
  const record = message as unknown as Record<string, unknown>;
  for (const field of type.fieldsArray) {
    const value = record[field.name];
    if (value === undefined || value === null) continue;
    const path = `${prefix}${field.name}`;
    const values = Array.isArray(value) ? value : field.map ? Object.values(value as object) : [value];
    for (const [i, v] of values.entries()) {
      const at = field.repeated ? `${path}[${i}]` : path;
      if (INT64_TYPES.has(field.type)) {
        const text = String(v); // Long and number both print as decimal
        if (!Number.isSafeInteger(Number(text))) return { field: at, value: text };
      } else if (field.resolvedType instanceof protobuf.Type && typeof v === "object") {
        const found = unsafeInteger(field.resolvedType, v as protobuf.Message, `${at}.`);
        if (found !== undefined) return found;
      }
    }
  }
  return undefined;
}
