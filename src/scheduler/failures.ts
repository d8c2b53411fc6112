// The ServiceErrors the scheduler produces, built in one place so messages and details stay consistent.
import { ServiceError } from "../core/errors";

export function queueFullError(model: string, queued: { requests: number; lanes: number; requestsMax: number; lanesMax: number }, retryAfterS: number): ServiceError {
  return new ServiceError(
    "UNAVAILABLE",
    `the queue for ${model} is full (${queued.requests}/${queued.requestsMax} requests, ${queued.lanes}/${queued.lanesMax} candidates); retry shortly`,
    { model, queuedRequests: queued.requests, queuedLanes: queued.lanes, queueRequestsMax: queued.requestsMax, queueLanesMax: queued.lanesMax },
    retryAfterS,
  );
}

export function customerQueueFullError(model: string, queued: { lanes: number; lanesMax: number }, retryAfterS: number): ServiceError {
  return new ServiceError(
    "UNAVAILABLE",
    `you have ${queued.lanes} candidates waiting for ${model}, and at most ${queued.lanesMax} may wait per customer; retry when some have run`,
    { model, customerQueuedLanes: queued.lanes, queueLanesPerCustomerMax: queued.lanesMax },
    retryAfterS,
  );
}

export function drainingError(model: string, retryAfterS: number): ServiceError {
  return new ServiceError("UNAVAILABLE", `${model} is draining for shutdown; retry on another server`, { model, draining: true }, retryAfterS);
}

export function expiredError(requestId: string, queuedUs: number): ServiceError {
  return new ServiceError("DEADLINE_EXCEEDED", "the deadline passed before the request could start; nothing was generated", {
    requestId,
    queuedUs,
  });
}

export function deadlinePassedError(requestId: string, chunksDone: number, chunkCount: number): ServiceError {
  return new ServiceError("DEADLINE_EXCEEDED", `the deadline passed after ${chunksDone} of ${chunkCount} chunks; only generated frames are billed`, {
    requestId,
    chunksDone,
    chunkCount,
  });
}

export function consumerError(requestId: string, why: string): ServiceError {
  return new ServiceError("CANCELLED", `stopped at a chunk boundary: ${why}`, { requestId });
}

/** The executor's own ENGINE_FAILURE passes through; anything else is wrapped, the original kept as `cause` for logs. */
export function engineFailure(err: unknown, stage: "encode" | "step"): ServiceError {
  if (err instanceof ServiceError && err.reason === "ENGINE_FAILURE") return err;
  const wrapped = new ServiceError("ENGINE_FAILURE", `the engine failed during ${stage}`, { stage });
  wrapped.cause = err;
  return wrapped;
}
