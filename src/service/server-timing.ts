// The W3C Server-Timing header (https://www.w3.org/TR/server-timing/) for a predict: where its time
// went on the server, phase by phase, so a client (and bench:overhead) can split a slow call into
// inbound (transport receipt to the handler: body, parse, authentication, rate limit), validate (the
// candidates' actions and parameters), decode, hold,
// layout (the response's buffers and encoders), queue, engine (of it: runner compute), record (how
// long the finished request still waited for its hold's durable record, written behind the engine's
// start; absent when it had landed), output encoding and settlement without guessing.
// Durations in ms with µs resolution; the names are fixed and documented in docs/API.md.

export type Phase = "inbound" | "validate" | "decode" | "hold" | "layout" | "queue" | "engine" | "compute" | "record" | "finalize" | "post" | "total";

export class ServerTiming {
  private readonly phasesUs = new Map<Phase, number>();

  /** Adds `us` to `phase` (a phase measured in parts sums them). */
  add(phase: Phase, us: number): void {
    if (!Number.isFinite(us) || us < 0) return;
    this.phasesUs.set(phase, (this.phasesUs.get(phase) ?? 0) + us);
  }

  /** Runs `fn` and adds its duration, measured on `nowUs`, to `phase`. */
  async time<T>(phase: Phase, nowUs: () => number, fn: () => Promise<T>): Promise<T> {
    const t0 = nowUs();
    try {
      return await fn();
    } finally {
      this.add(phase, nowUs() - t0);
    }
  }

  get(phase: Phase): number | undefined {
    return this.phasesUs.get(phase);
  }

  /** e.g. `decode;dur=0.412, hold;dur=1.203, …` */
  header(): string {
    return [...this.phasesUs].map(([name, us]) => `${name};dur=${(us / 1000).toFixed(3)}`).join(", ");
  }
}

/** Parses a Server-Timing value back into ms per phase (for clients and benches). */
export function parseServerTiming(value: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of value.split(",")) {
    const [name, ...params] = part.trim().split(";");
    const dur = params.map((p) => p.trim()).find((p) => p.startsWith("dur="));
    if (name && dur) out[name.trim()] = Number(dur.slice(4));
  }
  return out;
}
