// A StreamPlan call: one event per finished planner iteration, then the decision. Its messages as a
// discriminated union mirroring the proto's `PlanEvent.event` oneof (planning.proto), the case name
// as `kind`; retries, cancel() and the signal as for StreamPredict (server-stream.ts).
import type { IterationStats, PlanEvent, PlanResponse } from "../../../src/gen/dream/v1/planning";
import { ServerStream, type ServerStreamDriver } from "./server-stream";

/** One finished iteration: best, mean and elite cost, candidates, pruned, frames generated. */
export interface IterationEvent extends IterationStats {
  kind: "iteration";
}

/** The last event of a stream that ran to its end: the whole decision (as Planning.Plan answers). */
export interface PlanResultEvent {
  kind: "plan";
  plan: PlanResponse;
}

export type PlanStreamEvent = IterationEvent | PlanResultEvent;

/** The event a message carries; undefined for one with no case set (a newer server's addition). */
export function planEventOf(m: PlanEvent): PlanStreamEvent | undefined {
  const e = m.event;
  if (e?.$case === "iteration") return { kind: "iteration", ...e.value };
  if (e?.$case === "plan") return { kind: "plan", plan: e.value };
  return undefined;
}

export class PlanStream extends ServerStream<PlanEvent, PlanStreamEvent> {
  constructor(driver: ServerStreamDriver<PlanEvent>) {
    super(driver, planEventOf);
  }

  /** Iterates to the end and returns the decision (iteration events are dropped). */
  async result(): Promise<PlanResponse> {
    for await (const e of this) if (e.kind === "plan") return e.plan;
    throw new Error("StreamPlan ended without a plan"); // the server always sends one before OK
  }
}
