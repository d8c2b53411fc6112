// Jobs.GetJob, ListJobs and CancelJob. A customer sees only its own jobs: another customer's id is
// NOT_FOUND, exactly like an id that never existed.
import { invalidArgument, ServiceError } from "../../core/errors";
import { limits } from "../../core/limits";
import type { CancelJobRequest, GetJobRequest, Job, ListJobsRequest, ListJobsResponse } from "../../gen/dream/v1/jobs";
import type { JobKey, JobRecord } from "../../jobs/types";
import type { Account } from "../ports";
import type { JobsDeps } from "./deps";
import { jobView } from "./view";

const LIST_DEFAULT = 50;

async function ownJob(deps: JobsDeps, jobId: string, account: Account): Promise<{ key: JobKey; job: JobRecord }> {
  if (jobId === "") throw invalidArgument("job_id", "required");
  const key = { customerId: account.customerId, jobId };
  const job = await deps.store.getJob(key);
  if (!job) throw new ServiceError("NOT_FOUND", `no job ${JSON.stringify(jobId.slice(0, 80))} for this customer`, { job_id: jobId.slice(0, 80) });
  return { key, job };
}

export async function getJob(deps: JobsDeps, req: GetJobRequest, account: Account): Promise<Job> {
  const { key, job } = await ownJob(deps, req.jobId, account);
  return jobView(job, await deps.store.counts(key), deps.clock.wallMs());
}

export async function listJobs(deps: JobsDeps, req: ListJobsRequest, account: Account): Promise<ListJobsResponse> {
  const limit = req.limit === 0 ? LIST_DEFAULT : req.limit;
  if (limit < 1 || limit > limits.jobsListMax) throw invalidArgument("limit", `must be in 1..${limits.jobsListMax} (0 = ${LIST_DEFAULT}), got ${req.limit}`);
  const jobs = await deps.store.listJobs(account.customerId, limit);
  const now = deps.clock.wallMs();
  return { jobs: await Promise.all(jobs.map(async (j) => jobView(j, await deps.store.counts(j), now))) };
}

/** Marks the job cancelled (rows pending never start) and stops its rows in flight, which post what they generated. */
export async function cancelJob(deps: JobsDeps, req: CancelJobRequest, account: Account): Promise<Job> {
  const { key } = await ownJob(deps, req.jobId, account);
  await deps.store.setJobState(key, "cancelled", "cancelled by the customer", deps.clock.wallMs(), ["pending", "running"]);
  deps.runner?.cancelLocal(key);
  const job = (await deps.store.getJob(key))!;
  return jobView(job, await deps.store.counts(key), deps.clock.wallMs());
}
