// The route table: one route per google.api.http binding of every RPC in the loaded descriptors.
// Nothing in here names an RPC — that is the point: an annotated RPC is routed by being declared.

import * as protobuf from "protobufjs";
import type { Api, ApiMethod, HttpBinding } from "./descriptors";
import { fieldByName } from "./json";
import { matchTemplate, parseTemplate, type PathTemplate } from "./path-template";

export interface Route {
  httpMethod: string;
  template: PathTemplate;
  binding: HttpBinding;
  method: ApiMethod;
  /** Resolved body field when the binding says `body: "<field>"`. */
  bodyField: protobuf.Field | undefined;
}

export type RouteMatch =
  | { kind: "route"; route: Route; pathParams: Map<string, string> }
  | { kind: "method-not-allowed"; allow: string[] }
  | { kind: "none" };

export class Router {
  readonly routes: Route[];

  constructor(api: Api) {
    const routes: Route[] = [];
    for (const method of api.methods) for (const binding of method.bindings) routes.push(compileRoute(method, binding));
    // Overlapping templates: the one with more literal segments wins ("/v1/a/b" before "/v1/a/{x}").
    routes.sort((a, b) => b.template.literalCount - a.template.literalCount || b.template.atoms.length - a.template.atoms.length);
    this.routes = routes;
  }

  /** `path` is the raw (still percent-encoded) pathname. */
  match(httpMethod: string, path: string): RouteMatch {
    const allow = new Set<string>();
    for (const route of this.routes) {
      const params = matchTemplate(route.template, path);
      if (params === undefined) continue;
      // HEAD is GET without a body (node drops the body for us).
      if (route.httpMethod === httpMethod || (httpMethod === "HEAD" && route.httpMethod === "GET")) return { kind: "route", route, pathParams: params };
      allow.add(route.httpMethod);
      if (route.httpMethod === "GET") allow.add("HEAD");
    }
    return allow.size > 0 ? { kind: "method-not-allowed", allow: [...allow].sort() } : { kind: "none" };
  }

  /** Methods served on a path, for Allow headers on OPTIONS. */
  allowed(path: string): string[] {
    const m = this.match("\u0000", path);
    return m.kind === "method-not-allowed" ? m.allow : [];
  }
}

function compileRoute(method: ApiMethod, binding: HttpBinding): Route {
  const where = `${method.path} ${binding.method} ${binding.template}`;
  const template = parseTemplate(binding.template);
  // Fail at start, not per request: every variable must name a scalar field of the request.
  for (const v of template.variables) {
    const field = resolveFieldPath(method.requestType, v.fieldPath);
    if (field === undefined || field.repeated || field.resolvedType instanceof protobuf.Type) throw new Error(`${where}: path variable {${v.fieldPath.join(".")}} is not a singular scalar field of ${method.requestType.name}`);
  }
  let bodyField: protobuf.Field | undefined;
  if (binding.body !== undefined && binding.body !== "*") {
    bodyField = method.requestType.fields[binding.body];
    if (bodyField === undefined) throw new Error(`${where}: body field ${binding.body} not in ${method.requestType.name}`);
  }
  if (binding.responseBody !== undefined && method.responseType.fields[binding.responseBody] === undefined) throw new Error(`${where}: response_body ${binding.responseBody} not in ${method.responseType.name}`);
  return { httpMethod: binding.method, template, binding, method, bodyField };
}

/** Walk "a.b.c" through nested message fields (original or json names). */
export function resolveFieldPath(type: protobuf.Type, fieldPath: string[]): protobuf.Field | undefined {
  let current: protobuf.Type = type;
  let field: protobuf.Field | undefined;
  for (let i = 0; i < fieldPath.length; i++) {
    field = fieldByName(current, fieldPath[i]!);
    if (field === undefined) return undefined;
    if (i < fieldPath.length - 1) {
      if (!(field.resolvedType instanceof protobuf.Type) || field.repeated || field.map) return undefined;
      current = field.resolvedType;
    }
  }
  return field;
}
