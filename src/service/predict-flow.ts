// The lifecycle every predict shares (Predict, PredictBatch, StreamPredict):
//   validate → price → hold (the balance gate: 402 before any engine work) → enqueue → stream chunks
//   → settle → respond
// The hold's durable record (the ledger's pre-debit) is written while the engine starts
// (BillingPort.reserveGated): no chunk is handed to the consumer, and nothing settles, before it
// lands, and a record the ledger refuses stops the request with nothing delivered or charged.
// Settlement: post the frames actually generated (the rest of the hold is refunded) or void the whole
// hold when the engine failed.
import type { Clock } from "../core/clock";
import { ServiceError, invalidArgument } from "../core/errors";
import { requestIdOrNew } from "../core/ids";
import { microsToUsdString, rolloutPriceMicros, MICROS_PER_CENT } from "../core/money";
import type { Actions, Frame, OutputOptions, Priority, RequestSummary, SamplingParams } from "../gen/dream/v1/dream";
import type { Logger } from "../observability/logger";
import type { StatusRecorder } from "../observability/status";
import { ChunkDelivery } from "./chunk-delivery";
import type { CallContext } from "./context";
import { holdFor, type HoldRecord } from "./hold-record";
import type { Account, BillingPort, CodecPort, EngineChunk, EngineEnd, ModelEngine, ModelSlot } from "./ports";
import type { InflightRequests, ModelRegistry } from "./registry";
import { ServerTiming } from "./server-timing";
import { encodingName, validateCandidates, validateDeadlineMs, validateOutput, validateParams, validatePriority, type ValidatedOutput, type ValidatedParams } from "./validate";

export interface PredictInput {
  model: string;
  startFrame: Frame | undefined;
  candidates: Actions[];
  params: SamplingParams | undefined;
  output: OutputOptions | undefined;
  deadlineMs: number;
  requestId: string;
  /** Traffic class as the caller sent it; unset = interactive. */
  priority?: Priority;
  /** How errors name candidate i: `candidates[i]` for batches, `actions` for a single Predict. */
  fieldOf?: (index: number) => string;
}

export interface PredictDeps {
  models: ModelRegistry;
  inflight: InflightRequests;
  billing: BillingPort;
  codecs: CodecPort;
  clock: Clock;
  status: StatusRecorder;
  logger: Logger;
  roundDebitsToCent: boolean;
}

export interface Admitted {
  requestId: string;
  account: Account;
  slot: ModelSlot;
  engine: ModelEngine;
  startFrame: Uint8Array;
  lanes: Float32Array[];
  actionSteps: number;
  params: ValidatedParams;
  output: ValidatedOutput;
  priceMicros: number;
  deadlineUs: number | undefined;
  priority: "interactive" | "batch";
  /** When the transport received the call (Clock.nowUs terms): latency in /v1/status counts from here. */
  receivedUs: number;
  /** The engine's key for this request: request ids are unique per customer only. */
  engineRequestId: string;
  /** Where the server's time went, phase by phase (the Server-Timing response header). */
  timing: ServerTiming;
  /** Whether the hold's durable record is written yet (it may land while the engine starts). */
  record: HoldRecord;
}

/** A chunk as consumers see it: frame 0 of every candidate is the conditioning start frame. */
export type RolloutChunk = EngineChunk;

export interface Settled {
  end: EngineEnd;
  framesPerCandidate: number[];
  summary: RequestSummary;
}

export class PredictFlow {
  constructor(private readonly deps: PredictDeps) {}

  /** Everything that can reject an authorized caller's request without cost: model, shape, price, balance. */
  async admit(ctx: CallContext, account: Account, input: PredictInput): Promise<Admitted> {
    const { deps } = this;
    const validateStartUs = deps.clock.nowUs();
    // Read both clocks at one instant: the transport's receipt is in wall time, everything after in Clock.nowUs.
    const receivedUs = validateStartUs - waitedUs(ctx, deps.clock.wallMs());
    const { slot, engine } = deps.models.live(input.model);
    const entry = slot.entry;
    const requestId = input.requestId ? requestIdOrNew(input.requestId) : ctx.requestId;
    const { lanes, actionSteps } = validateCandidates(input.candidates, entry, entry.batchLanesMax, input.fieldOf);
    const params = validateParams(input.params, entry);
    const output = validateOutput(input.output);
    const deadlineMs = validateDeadlineMs(input.deadlineMs);
    const priority = validatePriority(input.priority, "interactive");
    if (!input.startFrame || input.startFrame.data.byteLength === 0) {
      throw invalidArgument("start_frame", `required: a ${entry.resolution[0]}x${entry.resolution[1]} (HxW) PNG, JPEG or RAW_RGB8 frame`);
    }
    const [height, width] = entry.resolution;
    const timing = new ServerTiming();
    timing.add("inbound", validateStartUs - receivedUs);
    timing.add("validate", deps.clock.nowUs() - validateStartUs);
    const nowUs = () => deps.clock.nowUs();
    const frame = input.startFrame;
    const startFrame = await timing.time("decode", nowUs, () =>
      deps.codecs.decodeStartFrame({ encoding: encodingName(frame.encoding), data: frame.data, height: frame.height, width: frame.width }, { height, width }),
    );
    const priceMicros = this.chargeMicros(lanes.length * (actionSteps + 1), entry.pricePerFrameMicros);
    const admittedUs = deps.clock.nowUs();
    const deadlineUs = earliest(
      deadlineMs === undefined ? undefined : admittedUs + deadlineMs * 1000,
      ctx.deadlineWallMs === undefined ? undefined : admittedUs + (ctx.deadlineWallMs - deps.clock.wallMs()) * 1000,
    );
    const { engineRequestId } = deps.inflight.add(requestId, { customerId: account.customerId, engine });
    let record: HoldRecord;
    try {
      record = await timing.time("hold", nowUs, () => holdFor(deps.billing, account, requestId, priceMicros));
    } catch (err) {
      deps.inflight.remove(requestId, account.customerId);
      throw err;
    }
    ctx.responseHeaders.set("x-dreamengine-request-id", requestId);
    ctx.responseHeaders.set("x-dreamengine-customer-id", account.customerId);
    ctx.responseHeaders.set("x-dreamengine-estimated-charge-usd", microsToUsdString(priceMicros));
    return { requestId, account, slot, engine, startFrame, lanes, actionSteps, params, output, priceMicros, deadlineUs, priority, receivedUs, engineRequestId, timing, record };
  }

  /** Gives back an admitted request that never reached the engine: the whole hold is released. */
  async abandon(a: Admitted): Promise<void> {
    this.deps.inflight.remove(a.requestId, a.account.customerId);
    await a.record.known;
    if (a.record.isRefused()) return; // nothing was held in the ledger, and the gate's hold is gone
    await this.deps.billing.void(a.account, a.requestId);
  }

  /**
   * Runs an admitted request to its end, handing each chunk to `onChunk` (awaited: the consumer's
   * backpressure), then settles the money. Throws the engine's ServiceError after voiding on failure,
   * and DEADLINE_EXCEEDED / CANCELLED after posting what was generated.
   */
  async run(
    a: Admitted,
    ctx: CallContext,
    onChunk: (chunk: RolloutChunk) => Promise<void> | void,
    /** Runs after the engine ends and before settlement (e.g. finishing encoders); a failure voids the hold. */
    finalize?: () => Promise<void>,
  ): Promise<Settled> {
    const { deps } = this;
    if (a.record.isRefused()) return this.refused(a);
    const delivery = new ChunkDelivery(a.startFrame, onChunk, a.record, () => a.engine.cancel(a.engineRequestId));
    const end = await new Promise<EngineEnd>((resolve) => {
      const onAbort = () => a.engine.cancel(a.engineRequestId);
      ctx.signal.addEventListener("abort", onAbort, { once: true });
      const finish = (e: EngineEnd) => {
        ctx.signal.removeEventListener("abort", onAbort);
        resolve(e);
      };
      try {
        a.engine.submit(
          { requestId: a.engineRequestId, lanes: a.lanes, actionSteps: a.actionSteps, startFrame: a.startFrame, numSteps: a.params.numSteps, guidance: a.params.guidance, seed: a.params.seed, deadlineUs: a.deadlineUs, priority: a.priority, customerId: a.account.customerId },
          { onChunk: (chunk) => delivery.take(chunk), onEnd: finish },
        );
      } catch (err) {
        // Queue full or draining: nothing ran, nothing is owed.
        finish({ framesPerCandidate: a.lanes.map(() => 0), cancelled: [], reason: "failed", error: ServiceError.from(err), engineUs: 0, queueUs: 0 });
      }
    });
    // Nothing settles, and no response leaves, before the hold's record is in the ledger.
    if (a.record.state === "pending") await a.timing.time("record", () => deps.clock.nowUs(), () => a.record.known);
    if (a.record.isRefused()) return this.refused(a);
    await delivery.handedOver();
    let consumerError = delivery.error;
    if (ctx.signal.aborted && end.reason === "cancelled" && consumerError === undefined) {
      consumerError = new ServiceError("CANCELLED", "the client cancelled the request");
    }
    if (finalize && end.reason !== "failed" && consumerError === undefined) {
      try {
        await a.timing.time("finalize", () => deps.clock.nowUs(), finalize);
      } catch (err) {
        // The frames exist but the caller cannot receive them: that is our failure, so nothing is owed.
        deps.logger.error({ requestId: a.requestId, err: String(err) }, "output encoding failed; voiding");
        const error = err instanceof ServiceError ? err : new ServiceError("ENGINE_FAILURE", "encoding the output failed; the pre-debit was refunded");
        return this.settle(a, ctx, { ...end, reason: "failed", error }, undefined);
      }
    }
    return this.settle(a, ctx, end, consumerError);
  }

  /**
   * The ledger refused the hold's record (unreachable, or its own balance check said no): nothing was
   * delivered and nothing is held, so nothing settles; the caller gets what reserve would have thrown.
   */
  private refused(a: Admitted): never {
    this.deps.inflight.remove(a.requestId, a.account.customerId);
    this.deps.logger.warn({ requestId: a.requestId, model: a.slot.entry.slug, err: String(a.record.refusal) }, "the ledger refused the hold's record; the request was stopped undelivered");
    throw ServiceError.from(a.record.refusal);
  }

  private async settle(a: Admitted, ctx: CallContext, end: EngineEnd, consumerError: unknown): Promise<Settled> {
    const { deps } = this;
    const entry = a.slot.entry;
    deps.inflight.remove(a.requestId, a.account.customerId);
    // The conditioning frame counts as a generated frame for every candidate that produced anything.
    const framesPerCandidate = end.framesPerCandidate.map((n) => (n > 0 ? n + 1 : 0));
    const frames = framesPerCandidate.reduce((s, n) => s + n, 0);
    const failed = end.reason === "failed";
    const costMicros = failed ? 0 : Math.min(this.chargeMicros(frames, entry.pricePerFrameMicros), a.priceMicros);
    a.timing.add("queue", end.queueUs);
    a.timing.add("engine", end.engineUs);
    if (end.computeUs !== undefined && end.computeUs > 0) a.timing.add("compute", end.computeUs);
    const postStartUs = deps.clock.nowUs();
    try {
      if (failed) await deps.billing.void(a.account, a.requestId);
      else await deps.billing.post(a.account, a.requestId, costMicros);
    } catch (err) {
      // The hold stays recorded and is reconciled by the billing sweeper; never fail a finished response.
      deps.logger.error({ requestId: a.requestId, err: String(err) }, "settlement failed; hold left for reconciliation");
    }
    const settledUs = deps.clock.nowUs();
    a.timing.add("post", settledUs - postStartUs);
    a.timing.add("total", settledUs - a.receivedUs);
    ctx.responseHeaders.set("server-timing", a.timing.header());
    const latencyMs = (settledUs - a.receivedUs) / 1000;
    // Deadlines and whole-request cancels count as errors too: the caller did not get its rollout.
    const unsuccessful = failed || consumerError !== undefined || end.reason === "deadline" || (end.reason === "cancelled" && end.cancelled.length === a.lanes.length);
    deps.status.record(entry.slug, { latencyMs, error: unsuccessful, batchLanes: a.lanes.length });
    const summary: RequestSummary = {
      requestId: a.requestId,
      model: entry.slug,
      frames,
      cost: { micros: costMicros, usd: microsToUsdString(costMicros) },
      engineWallMs: Math.round(end.engineUs / 1000),
      queueMs: Math.round(end.queueUs / 1000),
      numSteps: a.params.numSteps,
      seed: Number(a.params.seed),
      fps: entry.fps,
      batchSize: a.lanes.length,
    };
    deps.logger.info({ requestId: a.requestId, model: entry.slug, customerId: a.account.customerId, k: a.lanes.length, t: a.actionSteps, frames, costMicros, reason: end.reason, engineMs: summary.engineWallMs, queueMs: summary.queueMs }, "predict settled");
    if (failed) throw end.error ?? new ServiceError("ENGINE_FAILURE", "the engine failed; the pre-debit was refunded");
    if (consumerError !== undefined) {
      const error = ServiceError.from(consumerError);
      // A ServiceError is an answer the consumer chose (e.g. CANCELLED); anything else (an HTTP/2 write
      // error while delivering chunks) reaches the client only as "internal error", so it is logged
      // here, once, with what actually went wrong.
      if (!(consumerError instanceof ServiceError)) deps.logger.error({ requestId: a.requestId, model: entry.slug, err: error.cause }, "consumer failed while receiving chunks");
      throw withCharge(error, frames, costMicros);
    }
    if (end.reason === "deadline") {
      throw withCharge(new ServiceError("DEADLINE_EXCEEDED", `deadline exceeded after ${frames} frames; only those are billed`), frames, costMicros);
    }
    if (end.reason === "cancelled" && end.cancelled.length === a.lanes.length) {
      throw withCharge(new ServiceError("CANCELLED", `request cancelled after ${frames} frames; only those are billed`), frames, costMicros);
    }
    return { end, framesPerCandidate, summary };
  }

  /** Integer micros; optionally rounded up to whole cents (legacy seed behaviour, off by default). */
  chargeMicros(frames: number, pricePerFrameMicros: number): number {
    const micros = rolloutPriceMicros(1, frames, pricePerFrameMicros);
    return this.deps.roundDebitsToCent ? Math.ceil(micros / MICROS_PER_CENT) * MICROS_PER_CENT : micros;
  }
}

/** The error with what was generated and charged before it, for the caller to reconcile. */
export function withCharge(err: ServiceError, frames: number, costMicros: number): ServiceError {
  const charged = new ServiceError(err.reason, err.message, { ...err.details, frames_generated: frames, charged_micros: costMicros, charged_usd: microsToUsdString(costMicros) }, err.retryAfterS);
  // Keep the cause (non-enumerable, as ServiceError.from sets it) for whoever logs the final error.
  if (err.cause !== undefined) Object.defineProperty(charged, "cause", { value: err.cause, writable: true, configurable: true, enumerable: false });
  return charged;
}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

export function summaryHeaders(ctx: CallContext, summary: RequestSummary): void {
  ctx.responseHeaders.set("x-dreamengine-request-id", summary.requestId);
  ctx.responseHeaders.set("x-dreamengine-estimated-charge-usd", summary.cost?.usd ?? "0");
  ctx.responseHeaders.set("x-dreamengine-frames", String(summary.frames));
  ctx.responseHeaders.set("x-dreamengine-engine-wall-ms", String(summary.engineWallMs));
}

/** µs between the transport receiving the call and `nowWallMs`; 0 without a transport (or a clock that disagrees). */
function waitedUs(ctx: CallContext, nowWallMs: number): number {
  return ctx.receivedWallMs === undefined ? 0 : Math.max(0, nowWallMs - ctx.receivedWallMs) * 1000;
}
