// The two load shapes of bench:saturation, over any Sender.
//
// Open loop: sends are scheduled at intended times (constant spacing or Poisson with a fixed seed) and
// fired without waiting for earlier answers; each latency is measured from the INTENDED send time, so
// a generator that falls behind (or a server that stalls it) shows up in the latency instead of being
// hidden by sending later (no coordinated omission). Closed loop: N clients, each sending its next
// request as soon as its last one answers.
//
// Both stop sending after `sendMs`; answers still out after `drainMs` more are aborted and counted as
// errors, with their latency so far recorded (a lower bound), so an overloaded point cannot run on.
import * as hdr from "hdr-histogram-js";
import { Pcg32 } from "../src/planning/rng";
import type { Sender } from "./saturation-senders";

export interface LoadResult {
  requestsSent: number;
  responses: number;
  errors: number;
  /** The first few distinct error messages, for the row. */
  errorSamples: string[];
  frames: number;
  /** From the first intended send to the last answer (or the abort). */
  wallMs: number;
  latency: hdr.Histogram;
  /** Server-side admission → first chunk, from the responses that carry it. */
  queue: hdr.Histogram;
  queueSamples: number;
  /** Open loop only: how late the generator fired, worst case (ms past the intended time). */
  sendLagMsMax: number;
}

const newHist = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000, numberOfSignificantValueDigits: 3 });

class Tally {
  readonly r: LoadResult = { requestsSent: 0, responses: 0, errors: 0, errorSamples: [], frames: 0, wallMs: 0, latency: newHist(), queue: newHist(), queueSamples: 0, sendLagMsMax: 0 };
  readonly abort = new AbortController();
  private lastEnd = 0;

  /** One request, its latency counted from `fromMs` (performance.now() scale). */
  async one(sender: Sender, fromMs: number): Promise<void> {
    this.r.requestsSent++;
    try {
      const s = await sender.send(this.abort.signal);
      this.r.responses++;
      this.r.frames += s.frames;
      if (s.queueMs !== null) {
        this.r.queue.recordValue(Math.max(1, s.queueMs));
        this.r.queueSamples++;
      }
    } catch (err) {
      this.r.errors++;
      const msg = err instanceof Error ? err.message.slice(0, 160) : String(err);
      if (this.r.errorSamples.length < 3 && !this.r.errorSamples.includes(msg)) this.r.errorSamples.push(msg);
    }
    const end = performance.now();
    this.lastEnd = Math.max(this.lastEnd, end);
    this.r.latency.recordValue(Math.max(1, Math.round(end - fromMs)));
  }

  /** Waits for `pending` up to `untilMs`, then aborts what is left and waits for it to settle. */
  async finish(pending: Promise<void>[], startMs: number, untilMs: number): Promise<LoadResult> {
    let timer: NodeJS.Timeout | undefined;
    const cutoff = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, untilMs - performance.now()))));
    await Promise.race([Promise.all(pending), cutoff]);
    clearTimeout(timer);
    this.abort.abort(new Error("drain bound passed"));
    await Promise.all(pending);
    this.r.wallMs = Math.max(this.lastEnd, startMs) - startMs;
    return this.r;
  }
}

export interface OpenLoopOptions {
  ratePerS: number;
  arrivals: "constant" | "poisson";
  seed: number;
  sendMs: number;
  drainMs: number;
  /** Stop after this many sends instead of after sendMs (for 480p, where a window holds only a few). */
  count?: number;
}

export async function openLoop(sender: Sender, o: OpenLoopOptions): Promise<LoadResult> {
  const tally = new Tally();
  const rng = new Pcg32(o.seed); // seeded, so Poisson arrivals repeat exactly from run to run
  const gapMs = () => (o.arrivals === "constant" ? 1000 / o.ratePerS : (-Math.log(1 - rng.uniform()) * 1000) / o.ratePerS);
  const startMs = performance.now();
  const pending: Promise<void>[] = [];
  let next = startMs;
  const more = () => (o.count !== undefined ? tally.r.requestsSent < o.count : next - startMs < o.sendMs);
  while (more()) {
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    // Fire everything that is due (the timer may have woken late); each keeps its intended time.
    const now = performance.now();
    while (next <= now && more()) {
      tally.r.sendLagMsMax = Math.max(tally.r.sendLagMsMax, now - next);
      pending.push(tally.one(sender, next));
      next += gapMs();
    }
  }
  return tally.finish(pending, startMs, performance.now() + o.drainMs);
}

export interface ClosedLoopOptions {
  concurrency: number;
  sendMs: number;
  drainMs: number;
}

export async function closedLoop(sender: Sender, o: ClosedLoopOptions): Promise<LoadResult> {
  const tally = new Tally();
  const startMs = performance.now();
  // Every client sends at least once: with a 1 ms window (480p) the later clients would otherwise
  // start after the window closed, since building the first request takes longer than that.
  const client = async () => {
    do await tally.one(sender, performance.now());
    while (performance.now() - startMs < o.sendMs && !tally.abort.signal.aborted);
  };
  const pending = Array.from({ length: o.concurrency }, client);
  return tally.finish(pending, startMs, startMs + o.sendMs + o.drainMs);
}
