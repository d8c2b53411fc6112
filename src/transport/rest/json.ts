// The proto3 JSON mapping, driven by protobufjs reflection, in both directions.
//
// Input (strict, so a typo is a 400 naming the field instead of a silently ignored value):
//   accepts lowerCamel json names and the original snake_case names; int64 as number or string;
//   enums by name or number; bytes as base64 (standard or URL-safe, padding optional);
//   "NaN"/"Infinity" for floats; null = unset. Produces a "field tree" keyed by original field names
//   that protobufjs `Type.fromObject` turns into a message without further guessing.
// Output: ORIGINAL snake_case names (users read `balance_micros`, `price_per_frame_usd`), scalar
//   defaults emitted (clients see 0 / "" / false), [] and {} for empty repeated/map fields, null for
//   unset proto3 `optional` scalars (the spec's "measured, or null"), unset sub-messages and oneof
//   members omitted, int64 as a number when it is a safe integer (string otherwise), bytes base64.

import * as protobuf from "protobufjs";
import { echo, invalidArgument } from "../../core/errors";

export type InputMode = "json" | "query";
export type FieldTree = Record<string, unknown>;

const INT32 = new Set(["int32", "sint32", "sfixed32"]);
const UINT32 = new Set(["uint32", "fixed32"]);
const INT64 = new Set(["int64", "sint64", "sfixed64"]);
const UINT64 = new Set(["uint64", "fixed64"]);
const FLOAT32_MAX = 3.4028234663852886e38;

/** protoc's json_name rule: drop underscores and upper-case the letter after each. */
export function jsonName(field: protobuf.Field): string {
  const custom = field.options?.["json_name"];
  if (typeof custom === "string") return custom;
  return field.name.replace(/_+([a-zA-Z0-9])/g, (_m, c: string) => c.toUpperCase());
}

const lookupCache = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();

/** A field by its original or its json name. */
export function fieldByName(type: protobuf.Type, name: string): protobuf.Field | undefined {
  let byName = lookupCache.get(type);
  if (byName === undefined) {
    byName = new Map();
    for (const f of type.fieldsArray) {
      byName.set(f.name, f);
      byName.set(jsonName(f), f);
    }
    lookupCache.set(type, byName);
  }
  return byName.get(name);
}

/** Synthetic oneofs are how proto3 `optional` is represented; they are presence markers, not choices. */
export function isProto3Optional(field: protobuf.Field): boolean {
  return field.options?.["proto3_optional"] === true;
}

function realOneof(field: protobuf.Field): protobuf.OneOf | null {
  return field.partOf !== null && !isProto3Optional(field) ? field.partOf : null;
}

const describe = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "string" ? JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v) : typeof v === "object" ? "an object" : String(v));

// ---------------------------------------------------------------------------------------------
// JSON → field tree
// ---------------------------------------------------------------------------------------------

export function messageFromJson(type: protobuf.Type, value: unknown, where: string): FieldTree {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalidArgument(where || "body", `expected a JSON object for ${type.name}, got ${describe(value)}`);
  const out: FieldTree = {};
  const oneofSeen = new Map<protobuf.OneOf, string>();
  for (const [key, raw] of Object.entries(value)) {
    const field = fieldByName(type, key);
    const at = where ? `${where}.${key}` : key;
    if (field === undefined) throw invalidArgument(at, `no such field in ${type.name}`);
    if (raw === null) continue; // null means "unset" in proto3 JSON
    if (field.name in out) throw invalidArgument(at, `field given twice (as ${field.name} and ${jsonName(field)})`);
    const oneof = realOneof(field);
    if (oneof !== null) {
      const other = oneofSeen.get(oneof);
      if (other !== undefined) throw invalidArgument(at, `only one of ${oneof.oneof.join(", ")} may be set; ${other} is set too`);
      oneofSeen.set(oneof, field.name);
    }
    out[field.name] = fieldFromJson(field, raw, at, "json");
  }
  return out;
}

/** A whole field's value: repeated → array, map → object, otherwise one element. */
export function fieldFromJson(field: protobuf.Field, raw: unknown, at: string, mode: InputMode): unknown {
  if (field.map) {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw invalidArgument(at, `expected a JSON object (map), got ${describe(raw)}`);
    const out: Record<string, unknown> = {};
    const keyType = (field as unknown as protobuf.MapField).keyType;
    for (const [k, v] of Object.entries(raw)) {
      const key = mapKeyFromJson(keyType, k, `${at}[${JSON.stringify(k)}]`);
      out[key] = elementFromJson(field, v, `${at}[${JSON.stringify(k)}]`, mode);
    }
    return out;
  }
  if (field.repeated) {
    if (!Array.isArray(raw)) throw invalidArgument(at, `expected a JSON array, got ${describe(raw)}`);
    return raw.map((v, i) => elementFromJson(field, v, `${at}[${i}]`, mode));
  }
  return elementFromJson(field, raw, at, mode);
}

function mapKeyFromJson(keyType: string, key: string, at: string): string {
  if (keyType === "string") return key;
  if (keyType === "bool") {
    if (key !== "true" && key !== "false") throw invalidArgument(at, `expected a bool map key, got ${describe(key)}`);
    return key;
  }
  return String(scalarFromJson(keyType, key, at, "query"));
}

/** One element of a field (an entry of a repeated field, a map value, or the value of a singular field). */
export function elementFromJson(field: protobuf.Field, raw: unknown, at: string, mode: InputMode): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return messageFromJson(resolved, raw, at);
  if (resolved instanceof protobuf.Enum) return enumFromJson(resolved, raw, at, mode);
  return scalarFromJson(field.type, raw, at, mode);
}

export function enumFromJson(e: protobuf.Enum, raw: unknown, at: string, mode: InputMode): number {
  if (typeof raw === "string" && Object.prototype.hasOwnProperty.call(e.values, raw)) return e.values[raw]!;
  const n = typeof raw === "number" ? raw : mode === "query" && typeof raw === "string" && /^-?\d+$/.test(raw) ? Number(raw) : NaN;
  // proto3 enums are open: any int32 is a valid wire value, the handler decides what it accepts.
  if (Number.isInteger(n) && n >= -2147483648 && n <= 2147483647) return n;
  throw invalidArgument(at, `expected one of ${Object.keys(e.values).join(", ")} (or its number), got ${describe(raw)}`);
}

const INT_TEXT = /^-?\d+$/;
const NUMBER_TEXT = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

export function scalarFromJson(type: string, raw: unknown, at: string, mode: InputMode): unknown {
  switch (type) {
    case "string":
      if (typeof raw !== "string") throw invalidArgument(at, `expected a string, got ${describe(raw)}`);
      return raw;
    case "bool":
      if (typeof raw === "boolean") return raw;
      if (mode === "query" && (raw === "true" || raw === "false")) return raw === "true";
      throw invalidArgument(at, `expected true or false, got ${describe(raw)}`);
    case "bytes":
      return bytesFromJson(raw, at);
    case "float":
    case "double":
      return floatFromJson(type, raw, at);
  }
  if (INT32.has(type) || UINT32.has(type)) {
    const n = typeof raw === "number" ? raw : typeof raw === "string" && NUMBER_TEXT.test(raw.trim()) ? Number(raw) : NaN;
    const [lo, hi] = UINT32.has(type) ? [0, 4294967295] : [-2147483648, 2147483647];
    if (!Number.isInteger(n) || n < lo || n > hi) throw invalidArgument(at, `expected an integer in [${lo}, ${hi}] (${type}), got ${describe(raw)}`);
    return n;
  }
  if (INT64.has(type) || UINT64.has(type)) {
    const unsigned = UINT64.has(type);
    let text: string;
    if (typeof raw === "number") {
      // Beyond 2^53 a JSON number has already lost digits; the proto3 JSON form for those is a string.
      if (!Number.isSafeInteger(raw)) throw invalidArgument(at, `expected an integer (${type}; send values beyond 2^53 as a string), got ${describe(raw)}`);
      text = String(raw);
    } else if (typeof raw === "string" && INT_TEXT.test(raw.trim())) {
      text = raw.trim();
    } else if (typeof raw === "string" && NUMBER_TEXT.test(raw.trim()) && Number.isSafeInteger(Number(raw))) {
      text = String(Number(raw));
    } else throw invalidArgument(at, `expected an integer (${type}), got ${describe(raw)}`);
    const big = BigInt(text);
    const [lo, hi] = unsigned ? [0n, (1n << 64n) - 1n] : [-(1n << 63n), (1n << 63n) - 1n];
    if (big < lo || big > hi) throw invalidArgument(at, `${type} out of range: ${echo(text)}`);
    return big.toString(); // protobufjs fromObject parses decimal strings into Long without loss
  }
  throw new Error(`unsupported scalar type ${type} at ${at}`);
}

function floatFromJson(type: string, raw: unknown, at: string): number {
  let n: number;
  if (typeof raw === "number") n = raw;
  else if (raw === "NaN") n = NaN;
  else if (raw === "Infinity") n = Infinity;
  else if (raw === "-Infinity") n = -Infinity;
  else if (typeof raw === "string" && NUMBER_TEXT.test(raw.trim())) n = Number(raw);
  else throw invalidArgument(at, `expected a number, got ${describe(raw)}`);
  if (type === "float" && Number.isFinite(n) && Math.abs(n) > FLOAT32_MAX) throw invalidArgument(at, `float out of range: ${raw}`);
  return n;
}

const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;

function bytesFromJson(raw: unknown, at: string): Buffer {
  // Adapters hand us Buffers directly (multipart parts); never copy those through base64.
  if (Buffer.isBuffer(raw)) return raw;
  if (raw instanceof Uint8Array) return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  if (typeof raw !== "string") throw invalidArgument(at, `expected base64 bytes, got ${describe(raw)}`);
  // Buffer.from(…, "base64") silently skips junk, so check the alphabet first.
  if (!BASE64.test(raw) || raw.replace(/=+$/, "").length % 4 === 1) throw invalidArgument(at, "expected base64 (standard or URL-safe alphabet)");
  return Buffer.from(raw, raw.includes("-") || raw.includes("_") ? "base64url" : "base64");
}

// ---------------------------------------------------------------------------------------------
// decoded protobufjs message → JSON value
// ---------------------------------------------------------------------------------------------

const has = (obj: object, key: string): boolean => Object.prototype.hasOwnProperty.call(obj, key);

export function messageToJson(type: protobuf.Type, message: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const value = message[field.name];
    if (field.map) {
      const entries: Record<string, unknown> = {};
      for (const [k, v] of Object.entries((value as Record<string, unknown> | undefined) ?? {})) entries[k] = elementToJson(field, v);
      out[field.name] = entries;
    } else if (field.repeated) {
      out[field.name] = ((value as unknown[] | undefined) ?? []).map((v) => elementToJson(field, v));
    } else if (isProto3Optional(field)) {
      out[field.name] = has(message, field.name) && value != null ? elementToJson(field, value) : null;
    } else if (realOneof(field) !== null || field.resolvedType instanceof protobuf.Type) {
      if (has(message, field.name) && value != null) out[field.name] = elementToJson(field, value);
    } else {
      // Decoded messages carry scalar defaults on the prototype, so absent scalars read as 0 / "" / false.
      out[field.name] = elementToJson(field, value ?? field.typeDefault);
    }
  }
  return out;
}

function elementToJson(field: protobuf.Field, value: unknown): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return messageToJson(resolved, value as Record<string, unknown>);
  if (resolved instanceof protobuf.Enum) return resolved.valuesById[value as number] ?? value;
  return scalarToJson(field.type, value);
}

export function scalarToJson(type: string, value: unknown): unknown {
  if (type === "bytes") return Buffer.from(value as Uint8Array).toString("base64");
  if (INT64.has(type) || UINT64.has(type)) return int64ToJson(value);
  if (type === "float" || type === "double") {
    const n = value as number;
    if (Number.isNaN(n)) return "NaN";
    if (n === Infinity) return "Infinity";
    if (n === -Infinity) return "-Infinity";
    return type === "float" ? shortestFloat32(n) : n;
  }
  return value;
}

/** A number when exact, else the decimal string (proto3 JSON allows both; numbers are friendlier). */
export function int64ToJson(value: unknown): number | string {
  if (typeof value === "number") return Number.isSafeInteger(value) ? value : String(value);
  if (typeof value === "bigint") return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  const text = String(value); // Long#toString is exact and honours the unsigned flag
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : text;
}

/** 0.1f decodes as 0.10000000149011612; print the shortest decimal that maps back to the same float32. */
function shortestFloat32(n: number): number {
  for (let p = 1; p <= 9; p++) {
    const candidate = Number(n.toPrecision(p));
    if (Math.fround(candidate) === n) return candidate;
  }
  return n;
}

/** Encode a field tree to wire bytes, the form every codec (ts-proto, proto-loader) reads. */
export function encodeTree(type: protobuf.Type, tree: FieldTree): Buffer {
  const bytes = type.encode(type.fromObject(tree)).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Wire bytes → JSON with snake_case names and defaults. */
export function decodeToJson(type: protobuf.Type, bytes: Uint8Array): Record<string, unknown> {
  return messageToJson(type, type.decode(bytes) as unknown as Record<string, unknown>);
}
