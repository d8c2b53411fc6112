// gRPC wiring: every dream.v1 method is served from the shared MethodTable; grpc.health.v1 and server
// reflection (v1 and v1alpha) come along. No business logic lives here: the one thing this transport
// decides is *when* a method's guard runs — on the metadata, before the request message is received or
// deserialized (guardFirst), so a caller without a valid key never costs us a 64 MiB read and decode.
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { randomUUID } from "node:crypto";
import path from "node:path";
import type * as protobuf from "protobufjs";
import { ServiceError } from "../../core/errors";
import { limits } from "../../core/limits";
import { BillingService, ModelsService, StatusService, type PredictBatchResponse, type PredictResponse } from "../../gen/dream/v1/dream";
import type { Logger } from "../../observability/logger";
import type { Admission, CallContext, MethodImpl, MethodTable, RawResponseLayout, StreamHandler, UnaryHandler } from "../../service/context";
import { callContext } from "./context";
import { encodePredictBatchResponse, encodePredictResponse, encodeStreamPredictResponse } from "./fast-encode";
import { healthImplementation, HealthService } from "./health";
import { registerFramer } from "./preframed-send";
import { ArenaPool, framedRawResponse, planRawResponse, releaseRawResponse } from "./raw-arena";
import { loadRoot } from "../rest/descriptors";
import { requestDecodeError } from "../request-decode";
import { toGrpcStatus } from "./status";

export const PROTO_ROOT = path.resolve(__dirname, "..", "..", "..", "proto");

export interface GrpcServerOptions {
  methods: MethodTable;
  logger: Logger;
  isReady: () => Promise<boolean>;
  /** Observes every finished call (for metrics). */
  onCallEnd?: (method: string, code: number, durationMs: number) => void;
}

type AnyDefinition = Record<string, grpc.MethodDefinition<any, any>>;

interface Admitted {
  ctx: CallContext;
  controller: AbortController;
  /** The guard's outcome, from the interceptor (before the message was read). */
  admission: Promise<Admission>;
}

/** The frame-heavy responses use single-allocation encoders (see fast-encode.ts). */
function withFastEncoders<D extends AnyDefinition>(def: D): D {
  const out: AnyDefinition = { ...def };
  if (def === (ModelsService as unknown as D)) {
    out.predict = { ...out.predict!, responseSerialize: encodePredictResponse };
    out.predictBatch = { ...out.predictBatch!, responseSerialize: encodePredictBatchResponse };
    out.streamPredict = { ...out.streamPredict!, responseSerialize: encodeStreamPredictResponse };
  }
  return out as D;
}

/**
 * A request grpc-js could not deserialize. grpc-js answers INTERNAL ("Error deserializing request")
 * when a deserializer throws, so ours never throws: it hands the handler adapter this instead, and the
 * adapter answers INVALID_ARGUMENT through the same path as every other error.
 */
class UndecodableRequest {
  constructor(readonly error: ServiceError) {}
}

/** Request deserializers that turn a decode failure into an UndecodableRequest with the field named. */
function withTolerantDecoders<D extends AnyDefinition>(def: D, root: protobuf.Root): D {
  const out: AnyDefinition = {};
  for (const [name, md] of Object.entries(def)) {
    const [, service, method] = /^\/(.+)\/([^/]+)$/.exec(md.path)!;
    const type = root.lookupService(service!).methods[method!]!.resolvedRequestType!;
    const decode = md.requestDeserialize;
    out[name] = {
      ...md,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return decode(bytes);
        } catch (err) {
          return new UndecodableRequest(requestDecodeError(type, bytes, err));
        }
      },
    };
  }
  return out as D;
}

/** Wraps handlers written without our adapter (grpc.health.v1) so an UndecodableRequest is answered, not handled. */
function refusingUndecodable(impl: grpc.UntypedServiceImplementation, status: (err: ServiceError) => Partial<grpc.StatusObject>): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, fn] of Object.entries(impl)) {
    out[name] = ((call: { request?: unknown; emit(event: string, err: Error): void }, callback?: grpc.sendUnaryData<unknown>) => {
      if (!(call.request instanceof UndecodableRequest)) return (fn as (c: unknown, cb?: unknown) => void)(call, callback);
      const s = status(call.request.error);
      if (callback !== undefined) callback(s as grpc.ServiceError);
      else call.emit("error", Object.assign(new Error(s.details), s));
    }) as grpc.UntypedHandleCall;
  }
  return out;
}

/** The handler's request, or the decode error to answer with. */
const requestOf = (request: unknown): Promise<unknown> => (request instanceof UndecodableRequest ? Promise.reject(request.error) : Promise.resolve(request));

const PREDICT_PATH = ModelsService.predict.path;
const PREDICT_BATCH_PATH = ModelsService.predictBatch.path;

/**
 * Unary raw predict responses are assembled in their final wire layout while chunks compute
 * (raw-arena.ts) and, where grpc-js allows, sent without grpc-js's framing copy (preframed-send.ts).
 */
function enableRawArenas(): boolean {
  registerFramer(
    PREDICT_PATH,
    (v) => {
      const m = v as PredictResponse;
      return framedRawResponse(m.rollout ? [m.rollout] : [], m.summary);
    },
    releaseRawResponse,
  );
  return registerFramer(PREDICT_BATCH_PATH, (v) => framedRawResponse((v as PredictBatchResponse).rollouts, (v as PredictBatchResponse).summary), releaseRawResponse);
}

/** The id the service settled on (a client-chosen request_id wins over the transport's). */
const responseRequestId = (ctx: CallContext): string => ctx.responseHeaders.get("x-dreamengine-request-id") ?? ctx.requestId;

function metadataFrom(headers: Map<string, string>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of headers) md.set(k, v);
  return md;
}

export function createGrpcServer(opts: GrpcServerOptions): grpc.Server {
  const { logger } = opts;
  const root = loadRoot([PROTO_ROOT], ["dream/v1/dream.proto", "grpc/health/v1/health.proto"]);
  const admitted = new WeakMap<grpc.Metadata, Admitted>();
  const server = new grpc.Server({
    "grpc.max_receive_message_length": limits.grpcReceiveBytesMax,
    "grpc.max_send_message_length": limits.grpcSendBytesMax,
    interceptors: [(descriptor, call) => guardFirst(descriptor.path, call)],
  });
  const zeroCopySend = enableRawArenas();
  // Reused only after a send completed, which needs the pre-framed path; without it the copy grpc-js
  // makes anyway is the price, and every arena is fresh.
  const arenaPool = zeroCopySend ? new ArenaPool() : undefined;
  const rawLayout: RawResponseLayout = (rollouts, framesPerRollout, frameBytes) => planRawResponse(rollouts, framesPerRollout, frameBytes, arenaPool);
  if (!zeroCopySend) logger.warn("this grpc-js version cannot send pre-framed responses; raw predict responses are copied once more before sending");
  const finish = (method: string, code: number, startedMs: number) => opts.onCallEnd?.(method, code, performance.now() - startedMs);

  const fail = (method: string, err: unknown, requestId: string) => {
    const se = ServiceError.from(err);
    if (!(err instanceof ServiceError)) logger.error({ method, requestId, err: err instanceof Error ? err.stack : String(err) }, "unhandled error");
    return toGrpcStatus(se, requestId);
  };

  /**
   * Runs the method's guard when the metadata arrives. grpc-js reads (startRead) only after the
   * metadata has been passed on, so until the guard passed the stream stays paused: a refused call is
   * answered with its message never read into memory, let alone deserialized. The context built here
   * is the one the handler gets (keyed by the Metadata object grpc-js hands on), so the guard's outcome
   * and its rate-limit headers carry over.
   */
  const guardFirst = (path: string, call: grpc.ServerInterceptingCallInterface): grpc.ServerInterceptingCall => {
    const admit = opts.methods.get(path)?.admit;
    if (admit === undefined) return new grpc.ServerInterceptingCall(call); // grpc.health.v1, reflection
    const controller = new AbortController();
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, passOn) => {
            const started = performance.now();
            const ctx = callContext({ metadata, getPeer: () => call.getPeer(), getDeadline: () => call.getDeadline() }, controller);
            const admission = admit(ctx);
            admitted.set(metadata, { ctx, controller, admission });
            admission.then(
              () => passOn(metadata),
              (err: unknown) => {
                const status = fail(path, err, ctx.requestId);
                call.sendStatus({ code: status.code ?? grpc.status.UNKNOWN, details: status.details ?? "", metadata: status.metadata ?? null });
                finish(path, status.code ?? 2, started);
              },
            );
          },
          onCancel: () => controller.abort(),
        }),
    });
  };
  /**
   * The context and admission the interceptor made for this call. Every table method has a guard, so
   * the interceptor has always run; the fallback (guarding here) only keeps a handler from ever
   * running unguarded should grpc-js hand over a call some other way.
   */
  const contextOf = (call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>, admit: MethodImpl["admit"]): Admitted => {
    const early = admitted.get(call.metadata);
    if (early !== undefined) return early;
    const controller = new AbortController();
    const ctx = callContext(call, controller);
    return { ctx, controller, admission: admit(ctx) };
  };

  for (const definition of [ModelsService, BillingService, StatusService] as unknown as AnyDefinition[]) {
    const impl: grpc.UntypedServiceImplementation = {};
    for (const [name, md] of Object.entries(definition)) {
      const method = opts.methods.get(md.path);
      if (!method) throw new Error(`no implementation for ${md.path}`);
      if (method.kind === "unary") {
        const handler = method.handler as UnaryHandler<unknown, unknown>;
        impl[name] = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
          const started = performance.now();
          const { ctx, controller, admission } = contextOf(call, method.admit);
          call.on("cancelled", () => controller.abort());
          if (md.path === PREDICT_PATH || md.path === PREDICT_BATCH_PATH) ctx.rawResponseLayout = rawLayout;
          Promise.all([requestOf(call.request), admission]).then(([request, admitted]) => handler(request, ctx, admitted)).then(
            (response) => {
              ctx.responseHeaders.set("x-dreamengine-request-id", responseRequestId(ctx));
              call.sendMetadata(metadataFrom(ctx.responseHeaders));
              callback(null, response);
              finish(md.path, 0, started);
            },
            (err: unknown) => {
              const status = fail(md.path, err, responseRequestId(ctx));
              callback(status as grpc.ServiceError);
              finish(md.path, status.code ?? 2, started);
            },
          );
        };
      } else {
        const handler = method.handler as StreamHandler<unknown, unknown>;
        impl[name] = (call: grpc.ServerWritableStream<unknown, unknown>) => {
          const started = performance.now();
          const { ctx, controller, admission } = contextOf(call, method.admit);
          call.on("cancelled", () => controller.abort());
          let headersSent = false;
          let ended = false;
          const send = (message: unknown): Promise<void> => {
            if (controller.signal.aborted) return Promise.reject(new ServiceError("CANCELLED", "the client cancelled the stream"));
            // A write after the status would be "write after end" and could replace the status sent.
            if (ended) return Promise.reject(new ServiceError("CANCELLED", "the stream has already ended"));
            if (!headersSent) {
              headersSent = true;
              ctx.responseHeaders.set("x-dreamengine-request-id", responseRequestId(ctx));
              call.sendMetadata(metadataFrom(ctx.responseHeaders));
            }
            // Backpressure: resolve only when grpc-js has handed the message to HTTP/2 (the write
            // callback, which waits for flow control), not when write() returns true: grpc-js's object-mode
            // Writable accepts 16 messages before saying false, so a stalled reader would pin 16 chunks
            // (1.4 GB at K=8 480x640) beyond the handler's own bound. grpc-js never calls back a write on a
            // cancelled call, so a cancel rejects the pending send instead of leaving it hanging.
            return new Promise<void>((resolve, reject) => {
              const onAbort = () => reject(new ServiceError("CANCELLED", "the client cancelled the stream"));
              controller.signal.addEventListener("abort", onAbort, { once: true });
              call.write(message, (err?: Error | null) => {
                controller.signal.removeEventListener("abort", onAbort);
                if (err) reject(err);
                else resolve();
              });
            });
          };
          Promise.all([requestOf(call.request), admission]).then(([request, admitted]) => handler(request, ctx, admitted, send)).then(
            () => {
              ended = true;
              // Final charges travel as trailers: they are only known once the stream has ended.
              call.end(metadataFrom(ctx.responseHeaders));
              finish(md.path, 0, started);
            },
            (err: unknown) => {
              ended = true;
              const status = fail(md.path, err, responseRequestId(ctx));
              call.emit("error", Object.assign(new Error(status.details), status));
              finish(md.path, status.code ?? 2, started);
            },
          );
        };
      }
    }
    server.addService(withTolerantDecoders(withFastEncoders(definition), root), impl);
  }

  const health = HealthService as unknown as AnyDefinition;
  server.addService(withTolerantDecoders(health, root) as grpc.ServiceDefinition, refusingUndecodable(healthImplementation(opts.isReady), (err) => toGrpcStatus(err, randomUUID())));
  const packageDefinition = protoLoader.loadSync(["dream/v1/dream.proto", "grpc/health/v1/health.proto"], { includeDirs: [PROTO_ROOT] });
  new ReflectionService(packageDefinition).addToServer(server);
  return server;
}

export function bindGrpc(server: grpc.Server, addr: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
  });
}
