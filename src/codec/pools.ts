// The two process-wide bounds on codec work. Separate pools because their permits live for very
// different times: an image permit is held for one sharp call (milliseconds); a video permit is held
// by an ffmpeg encoder for a whole rollout (seconds), and sharing one pool would let long-lived
// video encoders starve per-frame PNG/JPEG work.

import { limits } from "../core/limits";
import { Semaphore } from "./semaphore";

/** sharp decode/encode calls in flight (each runs on a libuv worker thread). */
export const imagePool = new Semaphore(limits.encodeConcurrencyMax, "image codec pool");

/** Live ffmpeg child processes (H.264 encoders and MP4 decoders). */
export const videoPool = new Semaphore(limits.videoEncodersMax, "video encoder pool");

export function codecPoolStats(): { image: ReturnType<Semaphore["stats"]>; video: ReturnType<Semaphore["stats"]> } {
  return { image: imagePool.stats(), video: videoPool.stats() };
}
