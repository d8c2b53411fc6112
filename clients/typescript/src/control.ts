// A Sessions.Control call (the bidirectional form of a control session) as a robot loop holds it:
// the open message goes out as the call starts; step(observation) sends one observation and resolves
// with the decision the server answers it with (responses come in the order of the steps); close()
// half-closes the stream, which closes the session, and resolves when the server has finished. The
// object is also an async iterator over the responses that no step() is waiting for (those of send(),
// and the `opened` event). Not retried: the session lives in the stream, and each step is billed.
import * as grpc from "@grpc/grpc-js";
import type { Frame } from "../../../src/gen/dream/v1/dream";
import type { ControlRequest, ControlResponse, CreateSessionRequest, Session, StepSessionResponse } from "../../../src/gen/dream/v1/planning";
import { cancelledError, DreamError, toDreamError } from "./errors";

export interface ControlDriver {
  start(): grpc.ClientDuplexStream<ControlRequest, ControlResponse>;
  signal?: AbortSignal;
}

export interface StepOptions {
  /** A new goal from this step on. */
  goal?: Frame;
  /** Action steps the robot executed since the last decision; default the session's execute_steps. */
  executedSteps?: number;
  /** This step's request id (each step is billed as its own plan). */
  requestId?: string;
}

/** The session the server opened for this stream. */
export interface OpenedEvent {
  kind: "opened";
  session: Session;
}

/** One decision: the next `actions` to execute, the whole plan behind them, and its index. */
export interface DecisionEvent extends StepSessionResponse {
  kind: "step";
}

export type ControlEvent = OpenedEvent | DecisionEvent;

type Waiter = { resolve(r: StepSessionResponse): void; reject(e: DreamError): void } | "iterate";

/** Settled state: undefined while the call runs; null once it ended OK; the error otherwise. */
type Outcome = DreamError | null | undefined;

export class ControlStream implements AsyncIterable<ControlEvent> {
  /** The grpc-js call. */
  readonly call: grpc.ClientDuplexStream<ControlRequest, ControlResponse>;
  /** The session the server opened (rejects if the call ends first). */
  readonly opened: Promise<Session>;
  private resolveOpened!: (s: Session) => void;
  private rejectOpened!: (e: DreamError) => void;
  /** One per step written, in order: who takes its response. */
  private readonly waiters: Waiter[] = [];
  /** Events for the iterator, and the iterator waiting for one. */
  private readonly queue: ControlEvent[] = [];
  private wake: (() => void) | undefined;
  private outcome: Outcome;
  private halfClosed = false;
  private readonly done: Promise<void>;
  private aborted: { reason: unknown } | undefined;

  constructor(open: CreateSessionRequest, private readonly driver: ControlDriver) {
    this.opened = new Promise<Session>((resolve, reject) => {
      this.resolveOpened = resolve;
      this.rejectOpened = reject;
    });
    this.opened.catch(() => undefined); // a caller that never looks at `opened` must not crash the process
    const { signal } = driver;
    this.call = driver.start();
    if (signal?.aborted) {
      this.aborted = { reason: signal.reason };
      this.call.cancel();
    } else {
      signal?.addEventListener("abort", this.onAbort, { once: true });
      this.call.write({ message: { $case: "open", value: open } });
    }
    this.done = this.pump();
    this.done.catch(() => undefined);
  }

  private readonly onAbort = (): void => this.cancel(this.driver.signal?.reason);

  /** Sends one observation and resolves with the decision for it. */
  step(observation: Frame, options: StepOptions = {}): Promise<StepSessionResponse> {
    return new Promise((resolve, reject) => {
      const refused = this.refusal();
      if (refused) return reject(refused);
      this.waiters.push({ resolve, reject });
      this.write(observation, options);
    });
  }

  /** Sends one observation without waiting: its decision is yielded by the iterator. */
  send(observation: Frame, options: StepOptions = {}): void {
    const refused = this.refusal();
    if (refused) throw refused;
    this.waiters.push("iterate");
    this.write(observation, options);
  }

  /**
   * Half-closes the stream (no more steps), which closes the session; resolves once the server has
   * answered the steps in flight and ended the call OK, rejects with its error otherwise.
   */
  close(): Promise<void> {
    if (!this.halfClosed && this.outcome === undefined && !this.aborted) this.call.end();
    this.halfClosed = true;
    return this.done;
  }

  /** Ends the call at once: pending steps, `opened` and the iterator reject with DreamError CANCELLED (cause: `reason`). */
  cancel(reason?: unknown): void {
    if (this.outcome !== undefined) return;
    if (!this.aborted) this.aborted = { reason };
    this.call.cancel();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ControlEvent> {
    for (;;) {
      const e = this.queue.shift();
      if (e) {
        yield e;
        continue;
      }
      if (this.outcome === null) return;
      if (this.outcome) throw this.outcome;
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  private refusal(): DreamError | undefined {
    if (this.aborted) return cancelledError(this.aborted.reason);
    if (this.outcome) return this.outcome;
    if (this.halfClosed || this.outcome === null) return new DreamError(grpc.status.FAILED_PRECONDITION, "FAILED_PRECONDITION", "the control stream is closed", {}, undefined, undefined);
    return undefined;
  }

  private write(observation: Frame, o: StepOptions): void {
    this.call.write({ message: { $case: "step", value: { sessionId: "", observation, goal: o.goal, executedSteps: o.executedSteps ?? 0, requestId: o.requestId ?? "" } } });
  }

  private deliver(e: ControlEvent): void {
    this.queue.push(e);
    this.wake?.();
    this.wake = undefined;
  }

  private async pump(): Promise<void> {
    try {
      for await (const m of this.call as AsyncIterable<ControlResponse>) {
        const msg = m.message;
        if (msg?.$case === "opened") {
          this.resolveOpened(msg.value);
          this.deliver({ kind: "opened", session: msg.value });
        } else if (msg?.$case === "step") {
          const w = this.waiters.shift();
          if (w && w !== "iterate") w.resolve(msg.value);
          else this.deliver({ kind: "step", ...msg.value });
        }
      }
      this.settle(null);
    } catch (err) {
      this.settle(this.aborted ? cancelledError(this.aborted.reason) : toDreamError(err));
    }
    if (this.outcome) throw this.outcome;
  }

  private settle(outcome: DreamError | null): void {
    this.outcome = outcome;
    this.driver.signal?.removeEventListener("abort", this.onAbort);
    const err = outcome ?? new DreamError(grpc.status.UNKNOWN, "UNKNOWN", "the server ended the control stream before answering", {}, undefined, undefined);
    this.rejectOpened(err); // no-op once opened
    for (const w of this.waiters.splice(0)) if (w !== "iterate") w.reject(err);
    this.wake?.();
    this.wake = undefined;
  }
}
