// The one thing this transport decides about a method is *when* its guard runs: on the metadata,
// before the request message is received or deserialized, so a caller without a valid key never costs
// us a 64 MiB read and decode.
import * as grpc from "@grpc/grpc-js";
import type { Admission, CallContext, MethodImpl, MethodTable } from "../../service/context";
import type { CallOutcome } from "./call-outcome";
import { callContext, grpcCallContext, type CallHead } from "./context";

export interface Admitted {
  ctx: CallContext;
  controller: AbortController;
  /** The guard's outcome, from the interceptor (before the message was read). */
  admission: Promise<Admission>;
}

type HandlerCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>;

export class GuardFirst {
  /** Keyed by the Metadata object grpc-js hands from the interceptor on to the handler. */
  private readonly admitted = new WeakMap<grpc.Metadata, Admitted>();

  constructor(
    private readonly methods: MethodTable,
    private readonly outcome: CallOutcome,
  ) {}

  /** For grpc.Server's `interceptors` option. */
  readonly interceptor: grpc.ServerInterceptor = (descriptor, call) => this.intercept(descriptor.path, call);

  /**
   * Runs the method's guard when the metadata arrives. grpc-js reads (startRead) only after the
   * metadata has been passed on, so until the guard passed the stream stays paused: a refused call is
   * answered with its message never read into memory, let alone deserialized. The context built here
   * is the one the handler gets (keyed by the Metadata object grpc-js hands on), so the guard's outcome
   * and its rate-limit headers carry over.
   */
  private intercept(path: string, call: grpc.ServerInterceptingCallInterface): grpc.ServerInterceptingCall {
    const admit = this.methods.get(path)?.admit;
    if (admit === undefined) return new grpc.ServerInterceptingCall(call); // grpc.health.v1, reflection
    const controller = new AbortController();
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, passOn) => {
            const started = performance.now();
            const { ctx, admission } = this.admitOnMetadata({ metadata, getPeer: () => call.getPeer(), getDeadline: () => call.getDeadline() }, controller, admit);
            this.admitted.set(metadata, { ctx, controller, admission });
            admission.then(
              () => passOn(metadata),
              (err: unknown) => {
                const status = this.outcome.fail(path, err, ctx.requestId);
                call.sendStatus({ code: status.code ?? grpc.status.UNKNOWN, details: status.details ?? "", metadata: status.metadata ?? null });
                this.outcome.finish(path, status.code ?? 2, started);
              },
            );
          },
          onCancel: () => controller.abort(),
        }),
    });
  }

  /**
   * The call's context and its guard's outcome. A malformed header (x-dreamengine-deadline-ms) is the
   * call's answer, INVALID_ARGUMENT naming it, as on REST; the context then built without it only
   * carries the request id that answer reports.
   */
  private admitOnMetadata(head: CallHead, controller: AbortController, admit: MethodImpl["admit"]): { ctx: CallContext; admission: Promise<Admission> } {
    try {
      const ctx = grpcCallContext(head, controller);
      return { ctx, admission: admit(ctx) };
    } catch (err) {
      return { ctx: callContext(head, controller), admission: Promise.reject(err) };
    }
  }

  /**
   * The context and admission the interceptor made for this call. Every table method has a guard, so
   * the interceptor has always run; the fallback (guarding here) only keeps a handler from ever
   * running unguarded should grpc-js hand over a call some other way.
   */
  contextOf(call: HandlerCall, admit: MethodImpl["admit"]): Admitted {
    const early = this.admitted.get(call.metadata);
    if (early !== undefined) return early;
    const controller = new AbortController();
    const ctx = callContext(call, controller);
    return { ctx, controller, admission: admit(ctx) };
  }
}
