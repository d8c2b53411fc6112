// OpenAPI 3.1 for the HTTP surface, generated from the same descriptors the router uses (plus the
// documented extras), so the document cannot drift from what is served. Served at GET /v1/openapi.json
// and committed as docs/openapi.json (test/rest/openapi.test.ts keeps the copy fresh).

import * as protobuf from "protobufjs";
import { errorTable } from "../../core/errors";
import type { Api, ApiMethod } from "./descriptors";
import { isProto3Optional, jsonName } from "./json";
import { openApiPath, parseTemplate } from "./path-template";
import { PREDICT, PREDICT_BATCH } from "./predict-extras";
import { resolveFieldPath } from "./routes";

type Schema = Record<string, unknown>;

/** Answer without an API key (docs/API.md "Transports": healthz, status and the model catalog). */
const PUBLIC_METHODS = new Set(["/dream.v1.Status/GetStatus", "/dream.v1.Status/Health", "/dream.v1.Models/ListModels", "/dream.v1.Models/GetModel"]);

export interface OpenApiExtras {
  stripeWebhook: boolean;
  webhookPath: string;
  openapiPath: string;
}

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const schemaName = (t: protobuf.ReflectionObject): string => t.fullName.replace(/^\./, "");
const clean = (comment: string | null | undefined): string | undefined => (comment ? comment.replace(/\s+/g, " ").trim() : undefined);

export function buildOpenApi(api: Api, extras: OpenApiExtras): Record<string, unknown> {
  const schemas: Record<string, Schema> = {};
  const visit = (t: protobuf.Type | protobuf.Enum): void => {
    const name = schemaName(t);
    if (name in schemas) return;
    if (t instanceof protobuf.Enum) {
      schemas[name] = { type: "string", enum: Object.keys(t.values), description: [clean(t.comment), "Also accepted as the enum number on input."].filter(Boolean).join(" ") };
      return;
    }
    schemas[name] = {}; // placeholder first: messages may be recursive
    const properties: Record<string, Schema> = {};
    for (const field of t.fieldsArray) {
      if (field.resolvedType) visit(field.resolvedType as protobuf.Type | protobuf.Enum);
      properties[field.name] = fieldSchema(field);
    }
    schemas[name] = {
      type: "object",
      description: [clean(t.comment), "Input also accepts lowerCamel json names."].filter(Boolean).join(" "),
      properties,
      additionalProperties: false,
    };
  };

  const paths: Record<string, Record<string, unknown>> = {};
  const responses: Record<string, unknown> = {};
  const statuses = [...new Set(Object.values(errorTable).map((e) => e.http))].sort((a, b) => a - b);
  for (const status of statuses) {
    const reasons = Object.entries(errorTable)
      .filter(([, e]) => e.http === status)
      .map(([reason, e]) => `${reason}: ${e.summary}`);
    responses[`Error${status}`] = {
      description: reasons.join("; "),
      headers: { "X-DreamEngine-Request-Id": { $ref: "#/components/headers/RequestId" }, ...(status === 429 || status === 503 ? { "Retry-After": { $ref: "#/components/headers/RetryAfter" } } : {}) },
      content: { "application/json": { schema: ref("Error") } },
    };
  }
  const errorRefs = (): Record<string, unknown> => Object.fromEntries(statuses.map((s) => [String(s), { $ref: `#/components/responses/Error${s}` }]));

  for (const method of api.methods) {
    visit(method.requestType);
    visit(method.responseType);
    method.bindings.forEach((binding, i) => {
      const template = parseTemplate(binding.template);
      const p = openApiPath(template);
      const op = operation(method, binding.body, binding.responseBody, template.variables.map((v) => v.fieldPath), i);
      op["responses"] = { ...(op["responses"] as object), ...errorRefs() };
      (paths[p] ??= {})[binding.method.toLowerCase()] = op;
    });
  }

  paths[extras.openapiPath] = {
    get: { operationId: "OpenApi", summary: "This document.", security: [], tags: ["meta"], responses: { "200": { description: "OpenAPI 3.1 document", content: { "application/json": { schema: { type: "object" } } } } } },
  };
  paths[extras.webhookPath] = {
    post: {
      operationId: "StripeWebhook",
      summary: "Stripe webhook. The raw body is verified against Stripe-Signature before it is parsed; idempotent per event id.",
      security: [],
      tags: ["Billing"],
      parameters: [{ name: "Stripe-Signature", in: "header", required: true, schema: { type: "string" } }],
      requestBody: { required: true, content: { "application/json": { schema: { type: "object" } } } },
      responses: { "200": { description: "event accepted (or already processed)" }, "400": { description: "bad signature or payload" }, ...errorRefs() },
      ...(extras.stripeWebhook ? {} : { description: "Not configured on this server: answers 412 TOPUPS_NOT_CONFIGURED." }),
    },
  };

  schemas["Error"] = {
    type: "object",
    required: ["error"],
    properties: {
      error: {
        type: "object",
        required: ["code", "reason", "message", "request_id"],
        properties: {
          code: { type: "string", description: "gRPC status code name in lower case, e.g. failed_precondition" },
          reason: { type: "string", enum: Object.keys(errorTable) },
          message: { type: "string" },
          request_id: { type: "string" },
        },
        additionalProperties: true,
        description: "Reason-specific details are spread in, e.g. balance_cents and requested_cents for INSUFFICIENT_CREDITS, field for INVALID_ARGUMENT.",
      },
    },
  };

  return {
    openapi: "3.1.0",
    info: {
      title: "Dream Engine",
      version: "v1",
      description:
        "REST/JSON surface transcoded from dream/v1/dream.proto and dream/v1/planning.proto (google.api.http). JSON uses the proto3 mapping with original snake_case names on output; int64 values are numbers when exact, strings otherwise; bytes are base64.",
    },
    security: [{ bearer: [] }],
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
    components: {
      schemas: Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b))),
      responses,
      headers: {
        RequestId: { description: "The request id (keep it for audits and support).", schema: { type: "string" } },
        RetryAfter: { description: "Seconds to wait before retrying (integer, at least 1).", schema: { type: "integer", minimum: 1 } },
      },
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "API key: dre_ followed by 43 base32 characters." } },
    },
  };
}

function operation(method: ApiMethod, body: string | undefined, responseBody: string | undefined, pathVars: string[][], bindingIndex: number): Record<string, unknown> {
  const service = method.service.name;
  const op: Record<string, unknown> = {
    operationId: `${service}_${method.method.name}${bindingIndex > 0 ? `_${bindingIndex}` : ""}`,
    tags: [service],
  };
  const summary = clean(method.method.comment);
  if (summary) op["summary"] = summary;
  if (PUBLIC_METHODS.has(method.path)) op["security"] = [];

  const parameters: Schema[] = pathVars.map((fp) => ({ name: fp.join("."), in: "path", required: true, schema: fieldSchema(resolveFieldPath(method.requestType, fp)!) }));
  if (body === undefined) {
    const bound = new Set(pathVars.map((fp) => fp.join(".")));
    for (const [name, field] of queryFields(method.requestType, "", 0)) {
      if (bound.has(name)) continue;
      const schema = fieldSchema(field);
      parameters.push({ name, in: "query", required: false, schema, ...(field.repeated ? { style: "form", explode: true } : {}) });
    }
  }
  if (parameters.length > 0) op["parameters"] = parameters;

  if (body !== undefined) {
    const content: Record<string, unknown> = {
      "application/json": { schema: body === "*" ? ref(schemaName(method.requestType)) : fieldSchema(method.requestType.fields[body]!) },
    };
    if (method.path === PREDICT || method.path === PREDICT_BATCH) content["multipart/form-data"] = { schema: formSchema(method.path === PREDICT_BATCH) };
    op["requestBody"] = { required: body === "*" ? false : true, content };
  }

  const responseSchema = responseBody !== undefined ? fieldSchema(method.responseType.fields[responseBody]!) : ref(schemaName(method.responseType));
  const ok: Record<string, unknown> = { description: "OK", headers: { "X-DreamEngine-Request-Id": { $ref: "#/components/headers/RequestId" } } };
  if (method.responseStream) {
    ok["description"] = "Newline-delimited JSON: one message per line as produced; an error after the first line arrives as a final {\"error\": …} line.";
    ok["content"] = { "application/x-ndjson": { schema: responseSchema } };
  } else if (method.path === PREDICT || method.path === PREDICT_BATCH) {
    const batch = method.path === PREDICT_BATCH;
    ok["description"] =
      "Form uploads get media unless Accept is application/json; JSON requests get proto JSON unless Accept asks for video/mp4 or multipart/mixed. " +
      (batch ? "Media: multipart/mixed, one video/mp4 part per candidate in submission order, each with X-DreamEngine-Candidate-Index." : "Media: the MP4 (output=mp4, the HTTP default) or multipart/mixed of image parts (png, jpeg, raw).");
    ok["headers"] = {
      ...(ok["headers"] as object),
      "X-DreamEngine-Estimated-Charge-USD": { schema: { type: "string", example: batch ? "0.196" : "0.0245" } },
      "X-DreamEngine-Frames": { schema: { type: "integer", example: batch ? 392 : 49 } },
      "X-DreamEngine-Engine-Wall-Ms": { schema: { type: "integer" } },
    };
    ok["content"] = {
      "application/json": { schema: responseSchema },
      ...(batch ? {} : { "video/mp4": { schema: { type: "string", contentMediaType: "video/mp4" } } }),
      "multipart/mixed": { schema: { type: "string" } },
    };
  } else {
    ok["content"] = { "application/json": { schema: responseSchema } };
  }
  op["responses"] = { "200": ok };
  return op;
}

/** Leaf fields reachable through singular message fields, as dotted query parameter names. */
function queryFields(type: protobuf.Type, prefix: string, depth: number): Array<[string, protobuf.Field]> {
  const out: Array<[string, protobuf.Field]> = [];
  for (const field of type.fieldsArray) {
    const name = prefix + field.name;
    if (field.map) continue;
    if (field.resolvedType instanceof protobuf.Type) {
      if (!field.repeated && depth < 3) out.push(...queryFields(field.resolvedType, name + ".", depth + 1));
      continue;
    }
    out.push([name, field]);
  }
  return out;
}

const INTS: Record<string, Schema> = {
  int32: { type: "integer", format: "int32" },
  sint32: { type: "integer", format: "int32" },
  sfixed32: { type: "integer", format: "int32" },
  uint32: { type: "integer", minimum: 0, maximum: 4294967295 },
  fixed32: { type: "integer", minimum: 0, maximum: 4294967295 },
};

function elementSchema(field: protobuf.Field): Schema {
  const resolved = field.resolvedType;
  if (resolved) return ref(schemaName(resolved));
  const t = field.type;
  if (t in INTS) return { ...INTS[t] };
  if (/^(u?int64|sint64|s?fixed64)$/.test(t)) return { type: ["integer", "string"], format: "int64", description: "a number when exact, otherwise a decimal string" };
  if (t === "float" || t === "double") return { type: "number", format: t };
  if (t === "bool") return { type: "boolean" };
  if (t === "bytes") return { type: "string", contentEncoding: "base64" };
  return { type: "string" };
}

export function fieldSchema(field: protobuf.Field): Schema {
  let schema: Schema;
  if (field.map) schema = { type: "object", additionalProperties: elementSchema(field) };
  else if (field.repeated) schema = { type: "array", items: elementSchema(field) };
  else schema = elementSchema(field);
  if (isProto3Optional(field)) schema = { anyOf: [schema, { type: "null" }], description: "null when not set" };
  const description = clean(field.comment);
  const alias = jsonName(field) !== field.name ? `(input alias: ${jsonName(field)})` : undefined;
  const text = [description, alias].filter(Boolean).join(" ");
  if (text && !("$ref" in schema)) schema["description"] = schema["description"] ? `${text} — ${schema["description"] as string}` : text;
  else if (text) schema = { allOf: [schema], description: text };
  return schema;
}

function formSchema(batch: boolean): Schema {
  return {
    type: "object",
    required: ["frame", "actions"],
    properties: {
      frame: { type: "string", contentMediaType: "image/png", description: "the start frame, PNG or JPEG bytes (480x640 RGB)" },
      actions: batch
        ? { description: "K parts of one .npy (T, 384) each, or one .npy (K, T, 384); float32 (float64 accepted and narrowed)", oneOf: [{ type: "array", items: { type: "string", contentMediaType: "application/octet-stream" } }, { type: "string", contentMediaType: "application/octet-stream" }] }
        : { type: "string", contentMediaType: "application/octet-stream", description: ".npy float32 (T, 384); float64 accepted and narrowed" },
      num_steps: { type: "integer", minimum: 0 },
      guidance: { type: "number" },
      seed: { type: "integer", minimum: 0, default: 0 },
      output: { type: "string", enum: ["mp4", "png", "jpeg", "raw"], default: "mp4" },
      jpeg_quality: { type: "integer", minimum: 1, maximum: 100 },
      deadline_ms: { type: "integer", minimum: 0 },
      request_id: { type: "string" },
    },
  };
}
