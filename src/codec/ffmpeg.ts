// The ffmpeg child process: locating the npm-shipped static binary and spawning it with a bounded
// stderr tail for error messages. No system ffmpeg is assumed (a fresh machine has none).

import { accessSync, constants } from "fs";
import { ServiceError } from "../core/errors";
import { spawnThroughSpawner, type ChildHandle, type ExitStatus } from "./spawner";

let cachedPath: string | undefined;

/** Absolute path of the @ffmpeg-installer binary; ENGINE_FAILURE when it is missing. */
export function ffmpegPath(): string {
  if (cachedPath !== undefined) return cachedPath;
  let path: string;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    path = (require("@ffmpeg-installer/ffmpeg") as { path: string }).path;
    accessSync(path, constants.X_OK);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ServiceError("ENGINE_FAILURE", `MP4 codec unavailable: the @ffmpeg-installer/ffmpeg binary cannot be used (${why})`);
  }
  cachedPath = path;
  return path;
}

const STDERR_TAIL_BYTES = 4096;

export interface FfmpegProcess {
  child: ChildHandle;
  /** Resolves when the process has exited and its stdio is closed. Never rejects. */
  exited: Promise<ExitStatus>;
  /** The last few KB of stderr, trimmed, for error messages. */
  stderrTail(): string;
}

/**
 * Starts ffmpeg through the spawner process (src/codec/spawner.ts: a fork from this large process
 * blocks its event loop for tens of ms). `niceness` (1..19) lowers the child's CPU priority: encodes
 * for batch work then take the cores only when interactive work leaves them idle.
 */
export function spawnFfmpeg(args: string[], options: { niceness?: number } = {}): FfmpegProcess {
  const child = spawnThroughSpawner(ffmpegPath(), ["-hide_banner", "-nostdin", "-loglevel", "error", ...args], options.niceness);
  let tail = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (s: string) => {
    tail = (tail + s).slice(-STDERR_TAIL_BYTES);
  });
  // A child that dies while we write: the exit status carries the real story, so swallow the
  // stream error instead of letting it crash the process as an unhandled 'error'.
  child.stdin.on("error", () => undefined);
  return { child, exited: child.exited, stderrTail: () => tail.trim() };
}

/** "ffmpeg exited with code 1: <last stderr line(s)>" */
export function describeExit(
  what: string,
  r: ExitStatus,
  stderr: string,
): string {
  const how = r.spawnError
    ? `could not start ffmpeg (${r.spawnError.message})`
    : r.signal
      ? `ffmpeg was killed by ${r.signal}`
      : `ffmpeg exited with code ${r.code}`;
  const detail = stderr.split("\n").slice(-3).join(" | ");
  return `${what}: ${how}${detail ? `: ${detail}` : ""}`;
}
