// Sessions.Control, the bidirectional form for robot loops: the first message opens a session
// (answered `opened`), each following one is a step on it (answered `step`, in order, one at a time),
// and the client's half-close ends the call with OK and closes the session. Any error ends the call
// with its status and closes the session too; a cancel aborts the running step (billed for the frames
// it generated, like a cancelled Plan).
import { randomUUID } from "node:crypto";
import { invalidArgument } from "../../../core/errors";
import type { ControlRequest, ControlResponse } from "../../../gen/dream/v1/planning";
import type { CallContext } from "../../context";
import type { Account } from "../../ports";
import { openSession, sessionView } from "./create";
import { stepSession, type StepDeps } from "./step";
import type { SessionState } from "./store";

export async function control(deps: StepDeps, requests: AsyncIterable<ControlRequest>, ctx: CallContext, account: Account, send: (m: ControlResponse) => Promise<void>): Promise<void> {
  let session: SessionState | undefined;
  try {
    for await (const m of requests) {
      const message = m.message;
      if (session === undefined) {
        if (message?.$case !== "open") throw invalidArgument("open", "the first Control message opens the session (ControlRequest.open)");
        session = await openSession(deps, message.value, account);
        await send({ message: { $case: "opened", value: sessionView(session) } });
        continue;
      }
      if (message?.$case !== "step") throw invalidArgument("step", "after the open, every Control message is a step (ControlRequest.step)");
      const res = await stepSession(deps, { ...message.value, sessionId: session.id }, stepContext(ctx), account);
      await send({ message: { $case: "step", value: res } });
    }
  } finally {
    if (session !== undefined) closeQuietly(deps, session, account);
  }
}

/**
 * Each step is its own plan: its own request id (the step's request_id when given, else a fresh one —
 * the call's id cannot key two holds) and its own response headers; the call's signal and deadline.
 */
function stepContext(ctx: CallContext): CallContext {
  return { ...ctx, requestId: randomUUID(), responseHeaders: new Map() };
}

function closeQuietly(deps: StepDeps, s: SessionState, account: Account): void {
  try {
    deps.sessions.close(s.id, account.customerId);
  } catch {
    // Already expired (idle past its TTL between messages): nothing left to close.
  }
}
