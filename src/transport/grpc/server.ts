// gRPC wiring: every dream.v1 method is served from the shared MethodTable; grpc.health.v1 and server
// reflection (v1 and v1alpha) come along. No business logic lives here, and this file only composes:
// the guard runs on the metadata (guard-first.ts), table methods go through the unary, stream and
// bidi adapters (unary.ts, stream.ts, bidi.ts), definitions get fast encoders and tolerant decoders (definitions.ts),
// and raw predict responses may leave pre-framed (raw/, opt-out with preframedSend).
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { limits } from "../../core/limits";
import { BillingService, ModelsService, StatusService } from "../../gen/dream/v1/dream";
import { JobsService } from "../../gen/dream/v1/jobs";
import { PlanningService, SessionsService } from "../../gen/dream/v1/planning";
import type { Logger } from "../../observability/logger";
import type { MethodImpl, MethodTable } from "../../service/context";
import { API_PROTO_FILES, loadRoot } from "../rest/descriptors";
import { bidiAdapter } from "./bidi";
import { callOutcome } from "./call-outcome";
import { refusingUndecodable, withFastEncoders, withTolerantDecoders, type AnyDefinition } from "./definitions";
import { GuardFirst } from "./guard-first";
import { healthImplementation, HealthService } from "./health";
import { installPreframedSend } from "./raw/preframed-send";
import { installReceiveWindow } from "./receive-window";
import { ArenaPool } from "../arena-pool";
import { toGrpcStatus } from "./status";
import { streamAdapter } from "./stream";
import { unaryAdapter, type UnaryDeps } from "./unary";

export const PROTO_ROOT = path.resolve(__dirname, "..", "..", "..", "proto");

export interface GrpcServerOptions {
  methods: MethodTable;
  logger: Logger;
  isReady: () => Promise<boolean>;
  /** Observes every finished call (for metrics). */
  onCallEnd?: (method: string, code: number, durationMs: number) => void;
  /**
   * Send raw predict responses without grpc-js's framing copy by patching one private grpc-js method
   * (raw/preframed-send.ts, raw/README.md). Default true; false (DREAM_GRPC_PREFRAMED=off) leaves
   * grpc-js untouched in this process.
   */
  preframedSend?: boolean;
  /**
   * Close each client connection after this long (GOAWAY; calls in flight get `maxConnectionAgeGraceMs`
   * to finish), so clients re-resolve a headless Service's DNS and new pods get traffic. 0 = never.
   */
  maxConnectionAgeMs?: number;
  maxConnectionAgeGraceMs?: number;
  /**
   * Raise the server's HTTP/2 receive window (per stream and per connection) to this many bytes by
   * patching this server instance's grpc-js internals (receive-window.ts). Opt-in: 0 or absent leaves
   * grpc-js's 65,535 bytes (DREAM_GRPC_RECEIVE_WINDOW_BYTES).
   */
  receiveWindowBytes?: number;
}

/**
 * A sent raw response's arena is reused only once its bytes have left, which only the pre-framed send
 * can tell; without it the copy grpc-js makes anyway is the price, and every arena is fresh.
 */
function rawArenaPool(preframedSend: boolean, logger: Logger): ArenaPool | undefined {
  if (!preframedSend) {
    logger.info("pre-framed gRPC send off (DREAM_GRPC_PREFRAMED=off): raw predict responses are copied once by grpc-js");
    return undefined;
  }
  if (installPreframedSend()) return new ArenaPool();
  logger.warn("this grpc-js version cannot send pre-framed responses; raw predict responses are copied once more before sending");
  return undefined;
}

function raiseReceiveWindow(server: grpc.Server, windowBytes: number, logger: Logger): void {
  const result = installReceiveWindow(server, windowBytes);
  if (result.installed) logger.info({ windowBytes }, "gRPC receive window raised (DREAM_GRPC_RECEIVE_WINDOW_BYTES)");
  else logger.warn({ windowBytes, why: result.why }, "gRPC receive window left at grpc-js's 65,535 bytes: DREAM_GRPC_RECEIVE_WINDOW_BYTES cannot be applied to this grpc-js");
}

export function createGrpcServer(opts: GrpcServerOptions): grpc.Server {
  const root = loadRoot([PROTO_ROOT], [...API_PROTO_FILES, "grpc/health/v1/health.proto"]);
  const outcome = callOutcome(opts.logger, opts.onCallEnd);
  const guard = new GuardFirst(opts.methods, outcome);
  const server = new grpc.Server({
    "grpc.max_receive_message_length": limits.grpcReceiveBytesMax,
    "grpc.max_send_message_length": limits.grpcSendBytesMax,
    ...(opts.maxConnectionAgeMs ? { "grpc.max_connection_age_ms": opts.maxConnectionAgeMs, "grpc.max_connection_age_grace_ms": opts.maxConnectionAgeGraceMs ?? 30_000 } : {}),
    interceptors: [guard.interceptor],
  });
  const arenaPool = rawArenaPool(opts.preframedSend ?? true, opts.logger);
  if (opts.receiveWindowBytes) raiseReceiveWindow(server, opts.receiveWindowBytes, opts.logger);

  for (const definition of [ModelsService, BillingService, StatusService, PlanningService, SessionsService, JobsService] as unknown as AnyDefinition[]) {
    const impl: grpc.UntypedServiceImplementation = {};
    for (const [name, md] of Object.entries(definition)) {
      const method = opts.methods.get(md.path);
      if (!method) throw new Error(`no implementation for ${md.path}`);
      impl[name] = adapterOf(md.path, method, { guard, outcome, arenaPool });
    }
    server.addService(withTolerantDecoders(withFastEncoders(definition), root), impl);
  }

  const health = HealthService as unknown as AnyDefinition;
  server.addService(withTolerantDecoders(health, root) as grpc.ServiceDefinition, refusingUndecodable(healthImplementation(opts.isReady), (err) => toGrpcStatus(err, randomUUID())));
  const packageDefinition = protoLoader.loadSync([...API_PROTO_FILES, "grpc/health/v1/health.proto"], { includeDirs: [PROTO_ROOT] });
  new ReflectionService(packageDefinition).addToServer(server);
  return server;
}

function adapterOf(path: string, method: MethodImpl, deps: UnaryDeps): grpc.UntypedHandleCall {
  if (method.kind === "unary") return unaryAdapter(path, method, deps);
  if (method.kind === "bidi-stream") return bidiAdapter(path, method, deps);
  return streamAdapter(path, method, deps);
}

export function bindGrpc(server: grpc.Server, addr: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
  });
}
