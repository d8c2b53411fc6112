// The API as the REST shim sees it: every RPC declared in the .proto files, with its google.api.http
// bindings (read from the descriptors at start, so a new annotated RPC needs no routing code) and the
// binary codec of the gRPC server (so handlers receive exactly the objects gRPC would give them).

import * as fs from "node:fs";
import * as path from "node:path";
import * as protobuf from "protobufjs";
import * as dreamV1 from "../../gen/dream/v1/dream";
import * as jobsV1 from "../../gen/dream/v1/jobs";
import * as planningV1 from "../../gen/dream/v1/planning";

/** One HTTP binding of an RPC, from `option (google.api.http)` or one of its additional_bindings. */
export interface HttpBinding {
  method: string; // upper case: GET, POST, PUT, DELETE, PATCH or a custom kind
  template: string;
  body: string | undefined; // "*", a top-level field name, or undefined (no body)
  responseBody: string | undefined;
}

/** The part of a grpc-js service definition we need; ts-proto and @grpc/proto-loader both produce it. */
export interface GrpcMethodDefinition {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestDeserialize: (bytes: Buffer) => unknown;
  responseSerialize: (value: any) => Buffer;
}

export interface ApiMethod {
  /** "/dream.v1.Models/Predict" — the MethodTable key. */
  path: string;
  service: protobuf.Service;
  method: protobuf.Method;
  requestType: protobuf.Type;
  responseType: protobuf.Type;
  responseStream: boolean;
  bindings: HttpBinding[];
  codec: GrpcMethodDefinition;
}

export interface Api {
  root: protobuf.Root;
  methods: ApiMethod[];
  /** Annotated RPCs we cannot serve over HTTP (client streaming, or no codec given), with why. */
  skipped: Array<{ path: string; why: string }>;
}

export interface LoadApiOptions {
  /** Directories searched for imports, in order. Default: the repo's proto/ directory. */
  includeDirs?: string[];
  /** Proto files to load, relative to an include dir. Default: API_PROTO_FILES. */
  files?: string[];
  /** grpc-js style service definitions providing the codecs. Default: every service in src/gen/dream/v1. */
  definitions?: Array<Record<string, GrpcMethodDefinition>>;
}

const HTTP_OPTION = "(google.api.http)";
const VERBS = ["get", "put", "post", "delete", "patch"] as const;

/** The repo's proto/ directory, found from this file's location so neither cwd nor a dist/ build matters. */
export function repoProtoDir(): string {
  let dir = __dirname;
  for (;;) {
    const candidate = path.join(dir, "proto", "dream", "v1", "dream.proto");
    if (fs.existsSync(candidate)) return path.join(dir, "proto");
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`proto/dream/v1/dream.proto not found above ${__dirname}`);
    dir = parent;
  }
}

/** Every grpc-js service definition exported by the generated module, found by shape: a new service needs no edit here. */
/** The public API's proto files: what both transports serve (relative to proto/). */
export const API_PROTO_FILES: readonly string[] = Object.freeze(["dream/v1/dream.proto", "dream/v1/planning.proto", "dream/v1/jobs.proto"]);

export function generatedDefinitions(): Array<Record<string, GrpcMethodDefinition>> {
  return ([...Object.values(dreamV1), ...Object.values(planningV1), ...Object.values(jobsV1)] as unknown[]).filter(isServiceDefinition);
}

function isServiceDefinition(value: unknown): value is Record<string, GrpcMethodDefinition> {
  if (typeof value !== "object" || value === null) return false;
  const entries = Object.values(value);
  return entries.length > 0 && entries.every((m) => typeof m === "object" && m !== null && typeof m.path === "string" && typeof m.requestDeserialize === "function" && typeof m.responseSerialize === "function");
}

export function loadRoot(includeDirs: string[], files: string[]): protobuf.Root {
  // google/protobuf/descriptor.proto ships inside protobufjs; search it last.
  const dirs = [...includeDirs, path.dirname(require.resolve("protobufjs/package.json"))];
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const dir of dirs) {
      const candidate = path.join(dir, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    return protobuf.util.path.resolve(origin, target);
  };
  // keepCase: field names stay as written (snake_case), which is what our JSON emits; json names are derived.
  root.loadSync(files, { keepCase: true, alternateCommentMode: true });
  root.resolveAll();
  return root;
}

export function loadApi(options: LoadApiOptions = {}): Api {
  const includeDirs = options.includeDirs ?? [repoProtoDir()];
  const root = loadRoot(includeDirs, options.files ?? [...API_PROTO_FILES]);
  const codecs = new Map<string, GrpcMethodDefinition>();
  for (const def of options.definitions ?? generatedDefinitions()) for (const m of Object.values(def)) codecs.set(m.path, m);

  const methods: ApiMethod[] = [];
  const skipped: Api["skipped"] = [];
  for (const service of allServices(root)) {
    const serviceName = service.fullName.replace(/^\./, "");
    for (const method of service.methodsArray) {
      method.resolve();
      const bindings = httpBindings(method);
      if (bindings.length === 0) continue;
      const grpcPath = `/${serviceName}/${method.name}`;
      const codec = codecs.get(grpcPath);
      if (method.requestStream) skipped.push({ path: grpcPath, why: "client streaming cannot be transcoded" });
      else if (codec === undefined) skipped.push({ path: grpcPath, why: "no grpc service definition (codec) given" });
      else
        methods.push({
          path: grpcPath,
          service,
          method,
          requestType: method.resolvedRequestType!,
          responseType: method.resolvedResponseType!,
          responseStream: Boolean(method.responseStream),
          bindings,
          codec,
        });
    }
  }
  return { root, methods, skipped };
}

function allServices(ns: protobuf.NamespaceBase): protobuf.Service[] {
  const out: protobuf.Service[] = [];
  for (const nested of ns.nestedArray) {
    if (nested instanceof protobuf.Service) out.push(nested);
    if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type || nested instanceof protobuf.Service) out.push(...allServices(nested as protobuf.NamespaceBase));
  }
  return out;
}

interface RawRule {
  get?: string;
  put?: string;
  post?: string;
  delete?: string;
  patch?: string;
  custom?: { kind?: string; path?: string };
  body?: string;
  response_body?: string;
  additional_bindings?: RawRule | RawRule[];
}

/** Bindings of one method. protobufjs gives a single additional binding as an object and several as an array. */
export function httpBindings(method: protobuf.Method): HttpBinding[] {
  const rules = (method.parsedOptions ?? []).filter((o: Record<string, unknown>) => HTTP_OPTION in o).map((o: Record<string, unknown>) => o[HTTP_OPTION] as RawRule);
  const out: HttpBinding[] = [];
  const add = (rule: RawRule, nested: boolean): void => {
    const verb = VERBS.find((v) => typeof rule[v] === "string");
    if (verb !== undefined) out.push({ method: verb.toUpperCase(), template: rule[verb]!, body: rule.body || undefined, responseBody: rule.response_body || undefined });
    else if (rule.custom?.kind && rule.custom.path) out.push({ method: rule.custom.kind.toUpperCase(), template: rule.custom.path, body: rule.body || undefined, responseBody: rule.response_body || undefined });
    else throw new Error(`${method.fullName}: google.api.http rule without a pattern`);
    // HttpRule: additional_bindings must not nest further.
    if (!nested) for (const extra of [rule.additional_bindings ?? []].flat()) add(extra, true);
  };
  for (const rule of rules) add(rule, false);
  return out;
}
