// What bench:saturation steps through, per model and mode, in quick and default runs. Open-loop rates
// are fractions of the floor's capacity (floor best frames/s ÷ frames per request), measured earlier
// in the same run, so the steps straddle the saturation point on whatever machine this runs on.
// Sizes are chosen for the 2-core VMs here: a 480p K=8 T=48 request takes ~7–9 s, so 480p gets few,
// bounded points.
export interface ModelPlan {
  /** Closed-loop concurrencies, stepped in order. */
  concurrency: number[];
  /** Open-loop offered rates as fractions of the floor's request capacity, stepped in order. */
  openLoad: number[];
  transports: string[];
  /** Sending time per point; a closed-loop client always sends at least one request. */
  sendMs: number;
  /** How long answers may still come in after sending stops; later ones are aborted as errors. */
  drainMs: number;
  /** Open loop: a fixed number of sends per point instead of a sending window (480p). */
  openCount?: number;
  floorReps: number;
  floorWarmEach: boolean;
  /**
   * Measure the floor again after the served phase, without the per-size warm-up run: on a shared
   * machine the floor drifts with other load by more than the gap being measured, so the rows carry
   * both and the summary uses the better (on 480p this adds ~15 s quiet, more under load).
   */
  floorAfter: boolean;
}

const TINY = "dream-reference-tiny";

export function planFor(slug: string, quick: boolean): ModelPlan {
  if (slug === TINY) {
    return quick
      ? { concurrency: [1, 2, 4, 8], openLoad: [0.5, 0.9, 1.2], transports: ["grpc", "rest"], sendMs: 3_000, drainMs: 5_000, floorReps: 3, floorWarmEach: true, floorAfter: true }
      : { concurrency: [1, 2, 4, 8, 16], openLoad: [0.5, 0.75, 0.9, 1.0, 1.2, 1.5], transports: ["grpc", "rest"], sendMs: 8_000, drainMs: 10_000, floorReps: 5, floorWarmEach: true, floorAfter: true };
  }
  // 480p: quick is gRPC closed loop only (say so in the summary); default adds REST and one open rate.
  return quick
    ? { concurrency: [1, 2], openLoad: [], transports: ["grpc"], sendMs: 1, drainMs: 60_000, floorReps: 1, floorWarmEach: false, floorAfter: true }
    : { concurrency: [1, 2], openLoad: [0.8], openCount: 4, transports: ["grpc", "rest"], sendMs: 1, drainMs: 60_000, floorReps: 1, floorWarmEach: true, floorAfter: true };
}

/** Stepping stops once frames/s has grown by less than this over the best point before, twice in a row… */
export const GROWTH_MIN = 0.05;
const FLAT_POINTS_MAX = 2;
/** …or p99 passes this many times the floor's time for one K-candidate request (and at least 2 s). */
export const P99_BOUND_FACTOR = 20;

/**
 * The stop rule of one mode's steps. Two flat points in a row rather than one, because on a shared
 * 2-core machine one point can come out low by more than 5 % from noise alone.
 */
export class Stepper {
  stopped: string | undefined;
  private bestFps: number | undefined;
  private flat = 0;
  constructor(private readonly p99BoundMs: number) {}

  /** Records a point; returns its growth over the best point before it (null for the first). */
  step(fps: number, p99Ms: number | null): number | null {
    const growth = this.bestFps !== undefined ? Math.round((fps / this.bestFps - 1) * 1000) / 1000 : null;
    if (growth !== null && growth < GROWTH_MIN) this.flat++;
    else this.flat = 0;
    if (this.flat >= FLAT_POINTS_MAX) this.stopped = `frames/s grew < ${GROWTH_MIN} over the best before, ${FLAT_POINTS_MAX} points in a row`;
    if ((p99Ms ?? 0) > this.p99BoundMs) this.stopped = `p99 ${p99Ms} ms > bound ${this.p99BoundMs} ms`;
    this.bestFps = Math.max(this.bestFps ?? 0, fps);
    return growth;
  }
}
