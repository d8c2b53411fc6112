// Runs one claimed row exactly like a predict on the customer's behalf (PredictFlow: reserve the
// row's price, run at BATCH priority, post what was generated), writing its files into the sink
// before the charge is posted, so a posted row always has its output.
//
// Exactly once: the row's request id is deterministic. Before running, the ledger is asked about it:
// a posted charge means the row already ran (an instance died after posting) and it is only marked
// done; a hold left pending by a dead instance is voided first (the ledger's one outcome decides if
// that instance posted after all); a spent id (voided, expired) gives the row a fresh generation.
import { encodeNpy } from "../../codec/npy";
import { ServiceError, errorTable, type Reason } from "../../core/errors";
import { limits } from "../../core/limits";
import { Priority, type OutputOptions, type SamplingParams } from "../../gen/dream/v1/dream";
import { resolveUnder } from "../../jobs/paths";
import { rowFiles, writeRowFiles, type CandidateOutput, type SinkEncoding } from "../../jobs/sink";
import type { JobStore } from "../../jobs/store";
import { rowRequestId, type Claim } from "../../jobs/types";
import type { Logger } from "../../observability/logger";
import type { Clock } from "../../core/clock";
import type { CallContext } from "../context";
import type { PredictFlow } from "../predict-flow";
import type { Account, CodecPort, RolloutEncoder } from "../ports";
import type { ModelRegistry } from "../registry";
import { rowInput } from "./rows";

export type ChargeState = "none" | "pending" | "posted" | "voided" | "expired";

/** The ledger's view of one row's request id (scoped to the customer by the implementation). */
export interface RowLedger {
  status(customerId: string, requestId: string): Promise<{ state: ChargeState; capturedMicros: number }>;
  /** Voids a hold a dead instance left pending; answers the outcome the ledger kept (posted if it won). */
  voidStale(customerId: string, requestId: string): Promise<{ state: Exclude<ChargeState, "none" | "pending">; capturedMicros: number }>;
}

export interface RowRunDeps {
  store: JobStore;
  flow: PredictFlow;
  codecs: CodecPort;
  models: ModelRegistry;
  ledger: RowLedger;
  clock: Clock;
  logger: Logger;
  jobsRoot: string;
  instanceId: string;
}

/** How a row run ended, for the runner (job state changes, back-off). */
export type RowEnd = "done" | "failed" | "retry" | "out-of-credits" | "unavailable" | "lost";

/** Worth another attempt with a fresh request id. */
const RETRYABLE: ReadonlySet<Reason> = new Set<Reason>(["UNAVAILABLE", "ENGINE_FAILURE", "INTERNAL", "RATE_LIMITED", "STREAM_STALLED", "DEADLINE_EXCEEDED"]);

export function isRetryable(err: ServiceError): boolean {
  return RETRYABLE.has(err.reason) || errorTable[err.reason].retryable;
}

function syntheticContext(requestId: string, signal: AbortSignal): CallContext {
  return { requestId, apiKey: undefined, peer: "jobs", signal, deadlineWallMs: undefined, responseHeaders: new Map() };
}

export async function runRow(d: RowRunDeps, claim: Claim, signal: AbortSignal): Promise<RowEnd> {
  const { job, row } = claim;
  const account: Account = { customerId: job.customerId, keyId: job.keyId, rateLimit: { ratePerS: 1, burst: 1 } };
  const done = (frames: number, costMicros: number, error = "") => d.store.finishRow(row, d.instanceId, { state: "done", frames, costMicros, error, atMs: d.clock.wallMs() });

  let requestId = rowRequestId(job.jobId, row.rowIndex, row.requestGen);
  let prior = await d.ledger.status(job.customerId, requestId);
  if (prior.state === "pending") prior = await d.ledger.voidStale(job.customerId, requestId);
  if (prior.state === "posted") {
    const price = d.models.get(job.model).entry.pricePerFrameMicros;
    return (await done(price > 0 ? Math.round(prior.capturedMicros / price) : 0, prior.capturedMicros)) ? "done" : "lost";
  }
  if (prior.state === "voided" || prior.state === "expired") requestId = rowRequestId(job.jobId, row.rowIndex, await d.store.bumpRequestGen(row, d.instanceId));

  const ctx = syntheticContext(requestId, signal);
  const stored = JSON.parse(job.params) as { numSteps: number; guidance: number; seed: string };
  const params: SamplingParams = { numSteps: stored.numSteps, guidance: stored.guidance, seed: Number(stored.seed) };
  const output = JSON.parse(job.output) as { encoding: SinkEncoding; jpegQuality: number };
  let admitted;
  try {
    const entry = d.models.live(job.model).slot.entry;
    const { startFrame, candidates } = rowInput(d.jobsRoot, row, entry);
    const outputOptions: OutputOptions = { encoding: 0, jpegQuality: output.jpegQuality };
    // The job's class (BATCH unless the job asked otherwise): the scheduler runs batch rows only in the
    // capacity interactive work leaves free, pausing them at chunk boundaries.
    admitted = await d.flow.admit(ctx, account, { model: job.model, startFrame, candidates, params, output: outputOptions, deadlineMs: 0, requestId, priority: job.priority === Priority.INTERACTIVE ? Priority.INTERACTIVE : Priority.BATCH });
  } catch (err) {
    return admitFailed(d, claim, ServiceError.from(err));
  }
  const [height, width] = admitted.slot.entry.resolution;
  let encoders: RolloutEncoder[];
  try {
    // Batch rows' encodes yield the cores to interactive work (niced ffmpeg).
    encoders = await d.codecs.openRolloutEncoders(admitted.lanes.length, output.encoding, { height, width, fps: admitted.slot.entry.fps, jpegQuality: output.jpegQuality, background: admitted.priority === "batch" });
  } catch (err) {
    await d.flow.abandon(admitted);
    return retryOrFail(d, claim, ServiceError.from(err), true);
  }
  const sinkAbs = resolveUnder(d.jobsRoot, job.sinkDir, "sink.dir");
  // Frames go to each candidate's encoder in order, candidates in parallel. onChunk returns nothing:
  // the engine may end before a returned promise settles, so the sink write drains the chains itself.
  const chains: Promise<void>[] = encoders.map(() => Promise.resolve());
  const writeSink = async () => {
    await Promise.all(chains);
    const outputs: CandidateOutput[] = await Promise.all(encoders.map((e) => e.finish()));
    const npy = (frames: Uint8Array[]) => encodeNpy(concat(frames), [frames.length, height, width, 3], "|u1");
    await writeRowFiles(sinkAbs, row.name, rowFiles(row.name, output.encoding, outputs, npy));
  };
  try {
    const settled = await d.flow.run(
      admitted,
      ctx,
      (chunk) => {
        for (const lane of chunk.lanes) {
          const i = lane.candidateIndex;
          chains[i] = chains[i]!.then(async () => {
            for (const f of lane.frames) await encoders[i]!.push(f);
          });
          chains[i]!.catch(() => undefined); // surfaced when the sink write awaits the chains
        }
      },
      writeSink,
    );
    return (await done(settled.summary.frames, settled.summary.cost?.micros ?? 0)) ? "done" : "lost";
  } catch (err) {
    for (const e of encoders) e.abort();
    const error = ServiceError.from(err);
    const charged = error.details?.["charged_micros"];
    if (typeof charged === "number") {
      // Cancelled (the job, or this instance shutting down) after some frames: those are posted and
      // the files hold them; the row ends here so that it is never billed twice.
      const frames = Number(error.details?.["frames_generated"] ?? 0);
      const ok = await d.store.finishRow(row, d.instanceId, { state: "failed", frames, costMicros: charged, error: `${error.reason}: ${error.message}`, atMs: d.clock.wallMs() });
      return ok ? "failed" : "lost";
    }
    // Voided by the flow: the id is spent, the next attempt uses a fresh one.
    return retryOrFail(d, claim, error, true);
  }
}

async function admitFailed(d: RowRunDeps, claim: Claim, err: ServiceError): Promise<RowEnd> {
  if (err.reason === "INSUFFICIENT_CREDITS") {
    await d.store.releaseRow(claim.row, d.instanceId, { failedAttempt: false, spentRequestId: false, error: "" });
    return "out-of-credits";
  }
  if (err.reason === "UNAVAILABLE" || err.reason === "MODEL_UNAVAILABLE") {
    // Nothing ran (model loading, ledger unreachable): not the row's fault, so no attempt is counted.
    await d.store.releaseRow(claim.row, d.instanceId, { failedAttempt: false, spentRequestId: true, error: `${err.reason}: ${err.message}` });
    return "unavailable";
  }
  return retryOrFail(d, claim, err, true);
}

async function retryOrFail(d: RowRunDeps, claim: Claim, err: ServiceError, spentRequestId: boolean): Promise<RowEnd> {
  const error = `${err.reason}: ${err.message}`;
  if (isRetryable(err) && claim.row.attempts + 1 < limits.jobRowAttemptsMax) {
    d.logger.warn({ jobId: claim.job.jobId, row: claim.row.rowIndex, err: error }, "job row failed; retrying");
    const ok = await d.store.releaseRow(claim.row, d.instanceId, { failedAttempt: true, spentRequestId, error });
    return ok ? "retry" : "lost";
  }
  d.logger.warn({ jobId: claim.job.jobId, row: claim.row.rowIndex, err: error }, "job row failed");
  const ok = await d.store.finishRow(claim.row, d.instanceId, { state: "failed", frames: 0, costMicros: 0, error, atMs: d.clock.wallMs() });
  return ok ? "failed" : "lost";
}

function concat(frames: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(frames.reduce((s, f) => s + f.byteLength, 0));
  let at = 0;
  for (const f of frames) {
    out.set(f, at);
    at += f.byteLength;
  }
  return out;
}
