// One progress bar for every bench (cli-progress, on stderr, so stdout stays JSON rows + a summary).
// On a terminal it redraws in place; without one (CI logs, `npm run bench` piping a child) it prints
// a plain line every few seconds instead, so a long run still shows it is alive. BENCH_PROGRESS=off
// silences it.
import cliProgress from "cli-progress";

export interface Progress {
  /** Advance by `by` steps (default 1); `note` replaces the text after the bar. */
  tick(by?: number, note?: string): void;
  stop(): void;
}

const NONE: Progress = { tick() {}, stop() {} };

export function progress(label: string, total: number): Progress {
  if (process.env.BENCH_PROGRESS === "off" || total <= 0) return NONE;
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} {percentage}% eta {eta_formatted} {note}`,
      stream: process.stderr,
      noTTYOutput: !process.stderr.isTTY,
      notTTYSchedule: 5000,
      hideCursor: false,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { note: "" });
  return {
    tick(by = 1, note = "") {
      bar.increment(by, { note });
    },
    stop() {
      bar.stop();
    },
  };
}
