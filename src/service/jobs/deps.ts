// What the Jobs RPCs need. Absent from ServiceDeps (a table built without a jobs database), every
// Jobs method answers UNAVAILABLE instead of the server refusing to start.
import type { Clock } from "../../core/clock";
import { ServiceError } from "../../core/errors";
import type { JobStore } from "../../jobs/store";
import type { JobKey } from "../../jobs/types";
import type { BillingPort, CodecPort } from "../ports";
import type { ModelRegistry } from "../registry";

export interface JobsDeps {
  store: JobStore;
  models: ModelRegistry;
  codecs: CodecPort;
  billing: BillingPort;
  clock: Clock;
  /** DREAM_JOBS_DIR: every source and sink path is relative to it. */
  jobsRoot: string;
  chargeMicros: (frames: number, pricePerFrameMicros: number) => number;
  /** The local runner: woken on create, told of cancels so its rows in flight stop at once. */
  runner?: { wake(): void; cancelLocal(key: JobKey): void };
}

export function jobsOrUnavailable(deps: JobsDeps | undefined): JobsDeps {
  if (deps === undefined) throw new ServiceError("UNAVAILABLE", "batch jobs are not enabled on this server");
  return deps;
}
