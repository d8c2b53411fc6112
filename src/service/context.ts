// What a transport hands a service method, and what it reads back. The gRPC server and the REST shim
// build a CallContext per call and invoke the SAME handlers; neither has business logic of its own.
import type { Rollout } from "../gen/dream/v1/dream";
import type { Account } from "./ports";

export interface CallContext {
  /** The request id: from the x-request-id / X-DreamEngine-Request-Id header when valid, else fresh. */
  requestId: string;
  /** "Bearer dre_…" token without the scheme, if the caller sent one. */
  apiKey: string | undefined;
  /** Caller address, for per-IP limits on unauthenticated endpoints. */
  peer: string;
  /** Fires when the client goes away (gRPC cancel, closed HTTP connection) or the deadline passes. */
  signal: AbortSignal;
  /**
   * When the transport first saw the call (HTTP request headers parsed; grpc-js handing over the call),
   * in Clock.wallMs() terms. Request latency in /v1/status is measured from here, so body reads, auth
   * and decoding count: that is what clients wait for. Absent for calls made without a transport.
   */
  receivedWallMs?: number;
  /** Absolute deadline in Clock.wallMs() terms: the earliest of the transport's deadline, grpc-timeout and X-DreamEngine-Deadline-Ms (transport/request-context.ts). */
  deadlineWallMs: number | undefined;
  /** Headers/metadata to send with the response (lower-case names, e.g. x-dreamengine-frames). */
  responseHeaders: Map<string, string>;
  /** HTTP status of a successful response where it is not 200 (/healthz answers 503 while not ready). */
  httpStatus?: number;
  /**
   * Set by a transport that can send a unary raw response straight out of one buffer (gRPC): the
   * service then copies each raw frame to its final place as its chunk arrives, so nothing is
   * serialized after the last chunk. REST sets it for media answers (a multipart/mixed body,
   * transport/rest/mixed-arena.ts); absent (REST JSON), frames stay where the engine put them.
   */
  rawResponseLayout?: RawResponseLayout;
}

/** One buffer with a slot for every frame of every rollout of a unary response, in a transport's layout. */
export interface RawResponseArena {
  buffer: Uint8Array;
  /** Byte offset in `buffer` of candidate `candidate`'s frame `frame` (frame 0 = the start frame). */
  frameOffset(candidate: number, frame: number): number;
  /** Copies one frame into its slot, with whatever the transport keeps beside it (its field key). */
  putFrame(candidate: number, frame: number, bytes: Uint8Array): void;
  /** Writes a slot once so that its memory is faulted in before the frame is copied there. */
  touchFrame(candidate: number, frame: number): void;
  /** The buffer is reused and already faulted in: touching ahead would be wasted work. */
  readonly warm: boolean;
}

/**
 * Plans an arena for `rollouts` as they will be once every frame is in (frames empty), each with
 * `framesPerRollout` raw frames of `frameBytes`. Undefined when this transport cannot (too large, …).
 */
export type RawResponseLayout = (rollouts: readonly Rollout[], framesPerRollout: number, frameBytes: number) => RawResponseArena | undefined;

/** Who may call a method: "public" answers without a key (bounded per IP), "authorized" needs an API key. */
export type Access = "public" | "authorized";

/**
 * What a method's guard established, handed to its handler as a value: the caller's account for an
 * authorized method. A handler cannot run without one, so it cannot run unguarded.
 */
export type Admission = { access: "public" } | { access: "authorized"; account: Account };

export type UnaryHandler<Req, Res> = (request: Req, ctx: CallContext, admission: Admission) => Promise<Res>;
/** A server-streaming handler awaits `send` so that a slow reader applies backpressure. */
export type StreamHandler<Req, Res> = (request: Req, ctx: CallContext, admission: Admission, send: (message: Res) => Promise<void>) => Promise<void>;

/**
 * A bidirectional handler reads its requests one at a time (the transport reads no further ahead than
 * it must) and awaits `send` like a server stream; the requests end when the client half-closes.
 */
export type BidiHandler<Req, Res> = (requests: AsyncIterable<Req>, ctx: CallContext, admission: Admission, send: (message: Res) => Promise<void>) => Promise<void>;

export interface MethodImpl {
  kind: "unary" | "server-stream" | "bidi-stream";
  handler: UnaryHandler<any, any> | StreamHandler<any, any> | BidiHandler<any, any>;
  access: Access;
  /**
   * The method's guard (auth + rate limit), run once per call by the transport on headers/metadata
   * alone, before the request body or message is read or parsed (an unauthenticated caller must not
   * cost a 64 MiB read); its Admission goes to the handler.
   */
  admit: (ctx: CallContext) => Promise<Admission>;
}

/** Keyed by full gRPC method path, e.g. "/dream.v1.Models/Predict". */
export type MethodTable = Map<string, MethodImpl>;
