// Sessions.CloseSession: the session is gone from now on (NOT_FOUND), and the answer says how many
// decisions it took and what its steps cost in all. An expired session is already closed.
import { invalidArgument } from "../../../core/errors";
import { microsToUsdString } from "../../../core/money";
import type { CloseSessionRequest, CloseSessionResponse } from "../../../gen/dream/v1/planning";
import type { Account } from "../../ports";
import type { SessionStore } from "./store";

export async function closeSession(sessions: SessionStore, req: CloseSessionRequest, account: Account): Promise<CloseSessionResponse> {
  if (!req.sessionId) throw invalidArgument("session_id", "required: the id CreateSession answered");
  const s = sessions.close(req.sessionId, account.customerId);
  return { steps: s.steps, cost: { micros: s.costMicros, usd: microsToUsdString(s.costMicros) } };
}
