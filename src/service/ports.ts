// What the service layer needs from the rest of the system, as narrow interfaces. main.ts adapts the
// real scheduler/billing/codec implementations to these; service tests use fakes.
import type { CatalogEntry } from "../config/catalog";
import type { ServiceError } from "../core/errors";

// ----- engine (one per served model: scheduler + runner) -----

export interface EngineRequest {
  requestId: string;
  /** K action sequences, each T*actionDim float32. */
  lanes: Float32Array[];
  actionSteps: number;
  /** Raw RGB8 at the model's resolution. */
  startFrame: Uint8Array;
  numSteps: number;
  guidance: number;
  seed: bigint;
  /** Monotonic deadline (Clock.nowUs terms), if any. */
  deadlineUs: number | undefined;
  /** Score each chunk next to the model against a goal set with setGoal (planning). */
  score?: { scorer: string; goalKey: string; lastChunkOnly?: boolean };
  /** The consumer prunes lanes after every chunk: see the scheduler's SubmitRequest.chunkwise. */
  chunkwise?: boolean;
  /** Traffic class: see the scheduler's SubmitRequest.priority (default "interactive"). */
  priority?: "interactive" | "batch";
  /** Fair share and per-customer queue bounds are kept per customer. */
  customerId?: string;
}

export interface EngineChunk {
  chunkIndex: number;
  /** `costs`: one per frame of `frames` (lower is better) when the request asked for a score. */
  lanes: { candidateIndex: number; firstFrameIndex: number; frames: Uint8Array[]; costs?: Float32Array }[];
}

export interface EngineEnd {
  /** Predicted frames per candidate (excluding the start frame), after trimming padding. */
  framesPerCandidate: number[];
  cancelled: number[];
  reason: "completed" | "cancelled" | "deadline" | "failed";
  error?: ServiceError;
  engineUs: number;
  queueUs: number;
  /** Of engineUs, runner compute this request took part in (0 when unknown). */
  computeUs?: number;
}

export interface EngineSink {
  onStart?(queueUs: number): void;
  /** May return a promise: the consumer's own backpressure (see scheduler docs). */
  onChunk(chunk: EngineChunk): void | Promise<void>;
  onEnd(end: EngineEnd): void;
}

export interface CancelOutcome {
  found: boolean;
  cancelled: number[];
  stillRunning: number[];
}

export interface EngineStats {
  queueRequests: number;
  queueLanes: number;
  runningRequests: number;
  runningLanes: number;
  runnerState: string;
  runnerRestarts: number;
  lastBatchLanes: number;
  /** Batch lanes paused for interactive work, and paused requests evicted over the state budget. */
  pausedLanes: number;
  evictions: number;
  /** Per replica, when the model runs on several (src/app/replicas.ts). */
  replicas?: ReplicaStats[];
}

export interface ReplicaStats {
  index: number;
  device: string;
  runnerState: string;
  queueLanes: number;
  runningLanes: number;
  runnerRestarts: number;
  pausedLanes: number;
}

export interface ModelEngine {
  readonly entry: CatalogEntry;
  /** Throws ServiceError UNAVAILABLE when the queue is full or the engine is draining. */
  submit(request: EngineRequest, sink: EngineSink): void;
  cancel(requestId: string, candidateIndices?: number[]): CancelOutcome;
  /**
   * Scorers loaded with the model, by name: "frames" scores each frame, "latent" each chunk's end
   * state. An engine without them (a test fake, a replay) cannot plan.
   */
  readonly scorers?: Readonly<Record<string, "frames" | "latent">>;
  /** Keeps a goal (one raw frame, or a trajectory of frames back to back) for scored requests. */
  setGoal?(goalKey: string, frames: Uint8Array): Promise<void>;
  releaseGoal?(goalKeys: string[]): void;
  stats(): EngineStats;
  drain(): Promise<void>;
  close(): Promise<void>;
}

/** A catalog entry and, when it is served, its engine; status explains why not. */
export interface ModelSlot {
  entry: CatalogEntry;
  status: "live" | "loading" | "unavailable" | "failed";
  statusReason: string;
  engine: ModelEngine | undefined;
}

// ----- billing -----

export interface Account {
  customerId: string;
  keyId: string;
  rateLimit: { ratePerS: number; burst: number };
  /** The customer's id at the payment provider (Stripe's cus_…), once it has one: top-ups reuse it. */
  paymentCustomerId?: string;
}

export interface BalanceView {
  customerId: string;
  balanceMicros: number;
  heldMicros: number;
}

export interface TransactionView {
  id: string;
  kind: string;
  amountMicros: number;
  balanceMicros: number;
  requestId: string;
  createdAt: string;
  description: string;
}

export interface BillingPort {
  authenticate(rawKey: string | undefined): Promise<Account>;
  /** Holds amountMicros or throws ServiceError INSUFFICIENT_CREDITS (balance/requested in details). */
  reserve(account: Account, requestId: string, amountMicros: number): Promise<void>;
  /**
   * reserve in two steps: resolves once the balance gate has held the amount (throws as reserve does,
   * 402 included, before any engine work); `recorded` settles when the ledger's durable pre-debit is
   * written, rejecting with what reserve would have thrown. Nothing may reach the customer, and nothing
   * may settle, before `recorded` resolves. Absent: callers await reserve.
   */
  reserveGated?(account: Account, requestId: string, amountMicros: number): Promise<{ recorded: Promise<void> }>;
  /** Request ids are the customer's own: holds are keyed by (account's customer, request id). */
  post(account: Account, requestId: string, actualMicros: number): Promise<void>;
  void(account: Account, requestId: string): Promise<void>;
  balance(account: Account): Promise<BalanceView>;
  transactions(account: Account, limit: number): Promise<TransactionView[]>;
  createTopup(account: Account, amountUsd: number): Promise<{ sessionId: string; url: string; amountCents: number; amountUsd: number; customerId: string }>;
}

export interface RateLimitPort {
  /** Per API key. Throws ServiceError RATE_LIMITED (with retryAfterS); returns headers to send on success. */
  takeKey(keyId: string, policy: { ratePerS: number; burst: number }): Promise<Record<string, string>>;
  /** Per caller address, for keyless endpoints; the per-IP policy belongs to the limiter. */
  takePeer(peer: string): Promise<Record<string, string>>;
}

// ----- codecs -----

export interface ImageInput {
  encoding: "UNSPECIFIED" | "RAW_RGB8" | "PNG" | "JPEG";
  data: Uint8Array;
  height: number;
  width: number;
}

/** Encodes one candidate's frames as they arrive; `finish` yields per-frame blobs or one video. */
export interface RolloutEncoder {
  push(frame: Uint8Array): void | Promise<void>;
  finish(): Promise<{ frames: Uint8Array[]; video: Uint8Array | undefined }>;
  abort(): void;
}

export interface CodecPort {
  /** `field` names the frame in errors (default "start_frame"; a plan's goal is "cost.goal"). */
  decodeStartFrame(input: ImageInput, expected: { height: number; width: number }, field?: string): Promise<Uint8Array>;
  /**
   * One encoder per candidate (encoding: RAW_RGB8 | PNG | JPEG | MP4), opened together: MP4 encoders
   * are pooled processes, and taking them one at a time could deadlock two requests against each other.
   * Rejects with UNAVAILABLE when the pool cannot hold `count` at all. `background`: batch work's
   * encodes, run at a lower CPU priority (limits.backgroundEncodeNiceness) than interactive work.
   */
  openRolloutEncoders(count: number, encoding: string, geometry: { height: number; width: number; fps: number; jpegQuality: number; background?: boolean }): Promise<RolloutEncoder[]>;
  /** Per-frame encode for streaming (RAW_RGB8 | PNG | JPEG). */
  encodeFrame(encoding: string, frame: Uint8Array, geometry: { height: number; width: number; jpegQuality: number }): Promise<Uint8Array>;
}
