// HTTP request → request message, per the google.api.http rules:
//   fields in the path template come from the path; `body: "*"` takes every other field from the JSON
//   body and allows no query parameters; `body: "<field>"` puts the JSON body in that field; without a
//   body, every other (non-message) field may come from the query string, `a.b=` for nested fields and
//   repeated parameters for repeated fields.
// The result is encoded to wire bytes and decoded with the gRPC server's own requestDeserialize, so a
// handler cannot tell an HTTP call from a gRPC one.

import * as protobuf from "protobufjs";
import { invalidArgument } from "../../core/errors";
import { elementFromJson, encodeTree, fieldByName, fieldFromJson, messageFromJson, type FieldTree } from "./json";
import { requestDecodeError } from "../request-decode";
import { resolveFieldPath, type Route } from "./routes";

export function requestTree(route: Route, pathParams: Map<string, string>, query: URLSearchParams, body: unknown): FieldTree {
  const type = route.method.requestType;
  const bodyRule = route.binding.body;
  let tree: FieldTree = {};
  if (bodyRule === "*") tree = messageFromJson(type, body ?? {}, "");
  else if (route.bodyField !== undefined && body !== undefined && body !== null) tree[route.bodyField.name] = fieldFromJson(route.bodyField, body, route.bodyField.name, "json");

  const pathBound = new Set([...pathParams.keys()].map((k) => canonicalPath(type, k.split("."))));
  const seen = new Set<string>();
  for (const key of new Set(query.keys())) {
    if (bodyRule === "*") throw invalidArgument(key, "query parameters are not accepted here; send every field in the JSON body");
    const fieldPath = key.split(".");
    const field = resolveFieldPath(type, fieldPath);
    if (field === undefined) throw invalidArgument(key, `unknown query parameter for ${type.name}`);
    if (field.resolvedType instanceof protobuf.Type || field.map) throw invalidArgument(key, "message and map fields cannot be set from the query string");
    const canonical = canonicalPath(type, fieldPath);
    if (pathBound.has(canonical)) throw invalidArgument(key, "this field is bound by the URL path");
    if (route.bodyField !== undefined && canonical.split(".")[0] === route.bodyField.name) throw invalidArgument(key, "this field comes from the request body");
    if (seen.has(canonical)) throw invalidArgument(key, "given twice (as json and original name)");
    seen.add(canonical);
    const values = query.getAll(key);
    if (!field.repeated && values.length > 1) throw invalidArgument(key, `expected one value, got ${values.length}`);
    const converted = values.map((v, i) => elementFromJson(field, v, field.repeated ? `${key}[${i}]` : key, "query"));
    setAt(tree, type, fieldPath, field.repeated ? converted : converted[0]);
  }
  // Path values last: the URL names the resource, so it wins over a stray body field of the same name.
  for (const [key, value] of pathParams) {
    const fieldPath = key.split(".");
    const field = resolveFieldPath(type, fieldPath)!;
    setAt(tree, type, fieldPath, elementFromJson(field, value, key, "query"));
  }
  return tree;
}

/** "startFrame.data" and "start_frame.data" are the same field; compare on original names. */
function canonicalPath(type: protobuf.Type, fieldPath: string[]): string {
  const names: string[] = [];
  let current: protobuf.Type | undefined = type;
  for (const part of fieldPath) {
    const field: protobuf.Field | undefined = current ? fieldByName(current, part) : undefined;
    names.push(field?.name ?? part);
    current = field?.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
  }
  return names.join(".");
}

function setAt(tree: FieldTree, type: protobuf.Type, fieldPath: string[], value: unknown): void {
  let node = tree;
  let current = type;
  for (let i = 0; i < fieldPath.length - 1; i++) {
    const field = fieldByName(current, fieldPath[i]!)!;
    const next = node[field.name];
    if (typeof next !== "object" || next === null) node[field.name] = {};
    node = node[field.name] as FieldTree;
    current = field.resolvedType as protobuf.Type;
  }
  node[fieldByName(current, fieldPath[fieldPath.length - 1]!)!.name] = value;
}

/** The handler's view of the request: exactly what the gRPC server's deserializer produces. */
export function toHandlerRequest(route: Route, tree: FieldTree): unknown {
  const bytes = encodeTree(route.method.requestType, tree);
  try {
    return route.method.codec.requestDeserialize(bytes);
  } catch (err) {
    // Valid proto, but not representable by the generated code (ts-proto int64 fields are JS numbers
    // and refuse values beyond 2^53): the caller's value is the problem, so 400 naming it, not 500.
    throw requestDecodeError(route.method.requestType, bytes, err);
  }
}
