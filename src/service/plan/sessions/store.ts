// Open control sessions, in this process: keyed by an unguessable id, owned by the customer whose key
// opened them (anyone else's lookup is NOT_FOUND, as CancelCandidates treats request ids), bounded
// per key and per server, closed after their idle TTL — when next touched, and by a sweep that runs
// only while sessions are open (unref'd: it never holds the process up).
import { randomBytes } from "node:crypto";
import type { Clock } from "../../../core/clock";
import { ServiceError, invalidArgument, quoted } from "../../../core/errors";
import { limits } from "../../../core/limits";
import type { PlanRequest } from "../../../gen/dream/v1/planning";
import type { ActionShape } from "../../../planning/actions";
import { isExpired, openRefusal, retryAfterS, type SessionBounds } from "./policy";

export interface SessionState {
  readonly id: string;
  readonly customerId: string;
  readonly keyId: string;
  readonly model: string;
  /** The validated plan every step runs (goal decoded to RAW_RGB8 once; start_frame unset). */
  template: PlanRequest;
  readonly shape: ActionShape;
  readonly ttlS: number;
  readonly executeSteps: number;
  /** Decisions taken so far (finished steps). */
  steps: number;
  /** What the session's steps were charged in all, failed ones' partial charges included. */
  costMicros: number;
  /** The last finished step's planner mean (unshifted); undefined before the first. */
  mean: Float32Array | undefined;
  running: boolean;
  lastUsedUs: number;
}

export type NewSession = Omit<SessionState, "id" | "steps" | "costMicros" | "mean" | "running" | "lastUsedUs">;

/** The sweep's timer, injectable so that tests drive it by hand. */
export interface SweepTimer {
  start(fn: () => void, everyMs: number): unknown;
  stop(handle: unknown): void;
}

export const intervalTimer: SweepTimer = {
  start: (fn, everyMs) => setInterval(fn, everyMs).unref(),
  stop: (handle) => clearInterval(handle as NodeJS.Timeout),
};

export interface SessionStoreOptions {
  clock: Clock;
  timer?: SweepTimer;
  bounds?: SessionBounds;
  sweepMs?: number;
}

/** `ses_` + 144 random bits, base64url: unguessable, and safe in a URL path. */
export const newSessionId = (): string => `ses_${randomBytes(18).toString("base64url")}`;

export class SessionStore {
  private readonly sessions = new Map<string, SessionState>();
  private readonly clock: Clock;
  private readonly timer: SweepTimer;
  private readonly bounds: SessionBounds;
  private readonly sweepMs: number;
  private sweeping: unknown;

  constructor(opts: SessionStoreOptions) {
    this.clock = opts.clock;
    this.timer = opts.timer ?? intervalTimer;
    this.bounds = opts.bounds ?? { perKeyMax: limits.sessionsPerKeyMax, totalMax: limits.sessionsMax };
    this.sweepMs = opts.sweepMs ?? limits.sessionSweepMs;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Opens a session, or refuses with RATE_LIMITED (the key's bound) / UNAVAILABLE (the server's). */
  open(init: NewSession): SessionState {
    this.sweep();
    const mine = [...this.sessions.values()].filter((s) => s.keyId === init.keyId);
    const refusal = openRefusal(mine.length, this.sessions.size, this.bounds);
    const nowUs = this.clock.nowUs();
    if (refusal === "key") {
      throw new ServiceError("RATE_LIMITED", `this key has ${mine.length} open sessions, the most it may (limits.sessionsPerKeyMax); close one (CloseSession) or let one expire`, { open_sessions: mine.length, sessions_max: this.bounds.perKeyMax }, retryAfterS(mine, nowUs));
    }
    if (refusal === "server") {
      throw new ServiceError("UNAVAILABLE", `the server has ${this.sessions.size} open sessions, the most it holds (limits.sessionsMax)`, { sessions_max: this.bounds.totalMax }, retryAfterS(this.sessions.values(), nowUs));
    }
    const session: SessionState = { ...init, id: newSessionId(), steps: 0, costMicros: 0, mean: undefined, running: false, lastUsedUs: nowUs };
    this.sessions.set(session.id, session);
    this.armSweep();
    return session;
  }

  /** The caller's open session; NOT_FOUND when unknown, closed, expired or another customer's. */
  get(id: string, customerId: string): SessionState {
    const s = this.sessions.get(id);
    if (s !== undefined && isExpired(s, this.clock.nowUs())) this.remove(s.id);
    else if (s !== undefined && s.customerId === customerId) return s;
    throw new ServiceError("NOT_FOUND", `no open session ${quoted(id)} for this key's customer (closed, expired after its ttl_s, or never opened)`, { session_id: id });
  }

  /** Marks a step running; a second concurrent step on the same session is refused, naming session_id. */
  beginStep(id: string, customerId: string): SessionState {
    const s = this.get(id, customerId);
    if (s.running) throw invalidArgument("session_id", `session ${s.id} is already running a step; send the next step once the last one answered`, { step_running: true });
    s.running = true;
    return s;
  }

  /** Ends the running step: its charge counts, a decision advances the session and its warm start. */
  endStep(s: SessionState, outcome: { costMicros: number; decided: boolean; mean?: Float32Array }): void {
    s.running = false;
    s.lastUsedUs = this.clock.nowUs();
    s.costMicros += outcome.costMicros;
    if (!outcome.decided) return;
    s.steps += 1;
    if (outcome.mean !== undefined) s.mean = outcome.mean;
  }

  /** Closes the caller's session (NOT_FOUND as `get`). A step still running finishes, billed as it runs. */
  close(id: string, customerId: string): SessionState {
    const s = this.get(id, customerId);
    this.remove(s.id);
    return s;
  }

  /** Removes every expired session; returns how many. */
  sweep(): number {
    const nowUs = this.clock.nowUs();
    let removed = 0;
    for (const s of [...this.sessions.values()]) {
      if (isExpired(s, nowUs)) {
        this.remove(s.id);
        removed++;
      }
    }
    return removed;
  }

  /** Drops every session and the sweep (server shutdown). */
  clear(): void {
    for (const id of [...this.sessions.keys()]) this.remove(id);
  }

  private remove(id: string): void {
    this.sessions.delete(id);
    if (this.sessions.size === 0 && this.sweeping !== undefined) {
      this.timer.stop(this.sweeping);
      this.sweeping = undefined;
    }
  }

  private armSweep(): void {
    if (this.sweeping === undefined) this.sweeping = this.timer.start(() => void this.sweep(), this.sweepMs);
  }
}
