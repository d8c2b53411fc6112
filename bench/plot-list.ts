// The plots `npm run bench:plot` draws, in the order docs/BENCHMARKS.md shows them.
import type { Plot } from "./plot-common";
import { decisionLatencyCdf } from "./plot-mpc";
import { qualityPerEncoding } from "./plot-quality";
import { framesVsLoad, latencyVsLoad } from "./plot-saturation";

export const PLOTS: readonly Plot[] = [latencyVsLoad, framesVsLoad, decisionLatencyCdf, qualityPerEncoding];
