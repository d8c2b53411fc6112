// Models.CancelCandidates: whole-request or candidate-level cancel of a running request (MPC pruning).
// Lanes stop at the next chunk boundary; frames already generated are billed, the rest refunded.
import { ServiceError, invalidArgument } from "../core/errors";
import { limits } from "../core/limits";
import type { CancelCandidatesRequest, CancelCandidatesResponse } from "../gen/dream/v1/dream";
import type { Account } from "./ports";
import type { InflightRequests } from "./registry";

export async function cancelCandidates(inflight: InflightRequests, req: CancelCandidatesRequest, account: Account): Promise<CancelCandidatesResponse> {
  if (!req.requestId) throw invalidArgument("request_id", "required: the id of a running request");
  if (req.candidateIndices.length > limits.candidatesMax) {
    throw invalidArgument("candidate_indices", `at most ${limits.candidatesMax} indices, got ${req.candidateIndices.length}`);
  }
  const running = inflight.find(req.requestId, account.customerId);
  if (!running) throw new ServiceError("NOT_FOUND", `no running request ${req.requestId} for this key's customer`, { request_id: req.requestId });
  const outcome = running.engine.cancel(running.engineRequestId, req.candidateIndices.length ? req.candidateIndices : undefined);
  if (!outcome.found) throw new ServiceError("NOT_FOUND", `request ${req.requestId} has already finished`, { request_id: req.requestId });
  return { cancelled: outcome.cancelled, stillRunning: outcome.stillRunning };
}
