// Jobs.CreateJob: validate everything (paths, model, every row) before anything is written, refuse
// with 402 when the balance cannot cover even one row, then record the job durably. Idempotent on a
// client-chosen job_id per customer: creating it again returns the job as it is. A job whose creation
// stopped part-way (its rows go in short statements) is finished by the same create again.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { invalidArgument, ServiceError } from "../../core/errors";
import { limits } from "../../core/limits";
import { microsToUsdString } from "../../core/money";
import { FrameEncoding, Priority, type OutputOptions } from "../../gen/dream/v1/dream";
import type { CreateJobRequest, Job } from "../../gen/dream/v1/jobs";
import { jobContentDigest } from "../../jobs/digest";
import { resolveUnder } from "../../jobs/paths";
import type { NewRow } from "../../jobs/types";
import type { Account } from "../ports";
import { validateOutput, validateParams, validatePriority } from "../validate";
import type { JobsDeps } from "./deps";
import { dirRows, uploadedRows, type RowValidation } from "./rows";
import { jobView } from "./view";

const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

export function checkJobId(jobId: string, field = "job_id"): string {
  if (Buffer.byteLength(jobId) > limits.jobIdBytesMax || !JOB_ID.test(jobId)) {
    throw invalidArgument(field, `expected 1-${limits.jobIdBytesMax} characters of [A-Za-z0-9_-] starting with a letter or digit, got ${JSON.stringify(jobId.slice(0, 80))}`);
  }
  return jobId;
}

/** Jobs write files: their default output is MP4 (gRPC predicts default to RAW_RGB8). */
export function jobOutput(output: OutputOptions | undefined): OutputOptions {
  const encoding = output?.encoding ?? FrameEncoding.FRAME_ENCODING_UNSPECIFIED;
  return { encoding: encoding === FrameEncoding.FRAME_ENCODING_UNSPECIFIED ? FrameEncoding.MP4 : encoding, jpegQuality: output?.jpegQuality ?? 0 };
}

export async function createJob(deps: JobsDeps, req: CreateJobRequest, account: Account): Promise<Job> {
  const jobId = req.jobId === "" ? `j${randomBytes(10).toString("hex")}` : checkJobId(req.jobId);
  const key = { customerId: account.customerId, jobId };
  const existing = await deps.store.getJob(key);
  if (existing) {
    const counts = await deps.store.counts(key);
    if (counts.written >= existing.rowsTotal) return jobView(existing, counts, deps.clock.wallMs());
  }

  const { entry } = deps.models.live(req.model).slot;
  const params = validateParams(req.params, entry);
  const output = validateOutput(jobOutput(req.output));
  const priority = validatePriority(req.priority, "batch");
  if (!Number.isSafeInteger(req.budgetMicros) || req.budgetMicros < 0) throw invalidArgument("budget_micros", `must be a whole number of micro-USD >= 0 (0 = no cap), got ${req.budgetMicros}`);
  const sinkRel = req.sink?.dir ?? "";
  const sinkAbs = resolveUnder(deps.jobsRoot, sinkRel, "sink.dir");

  const v: RowValidation = { entry, codecs: deps.codecs, chargeMicros: deps.chargeMicros };
  const source = req.source?.source;
  let rows: NewRow[];
  let sourceText: string;
  if (source?.$case === "dir") {
    rows = await dirRows(v, deps.jobsRoot, source.value);
    sourceText = `dir:${source.value}`;
  } else if (source?.$case === "rows") {
    rows = await uploadedRows(v, source.value.rows);
    sourceText = "upload";
  } else throw invalidArgument("source", "required: source.dir (a directory under the server's jobs root) or source.rows");

  const cheapest = Math.min(...rows.map((r) => r.priceMicros));
  if (req.budgetMicros > 0 && req.budgetMicros < cheapest) throw invalidArgument("budget_micros", `${req.budgetMicros} does not cover one row (the cheapest costs ${cheapest} micros)`);
  // A job being finished was admitted when it was first created; its rows each meet the gate as they run.
  const balance = existing ? undefined : await deps.billing.balance(account);
  if (balance !== undefined && balance.balanceMicros < cheapest) {
    throw new ServiceError("INSUFFICIENT_CREDITS", `balance ${microsToUsdString(balance.balanceMicros)} USD does not cover one row of this job (${microsToUsdString(cheapest)} USD); top up first`, { balance_micros: balance.balanceMicros, requested_micros: cheapest });
  }

  fs.mkdirSync(sinkAbs, { recursive: true });
  const stored = {
    params: JSON.stringify({ numSteps: params.numSteps, guidance: params.guidance, seed: params.seed.toString() }),
    output: JSON.stringify(output),
  };
  const content = { model: entry.slug, ...stored, sinkDir: sinkRel, budgetMicros: req.budgetMicros, priority: priority === "batch" ? Priority.BATCH : Priority.INTERACTIVE, rows };
  const { job, sameContent } = await deps.store.createJob({ ...key, keyId: account.keyId, ...content, source: sourceText, atMs: deps.clock.wallMs(), contentDigest: jobContentDigest(content) });
  if (!sameContent) {
    throw invalidArgument("job_id", `job ${jobId} exists with other content and its creation stopped part-way; send the same create again to finish it, or cancel it and use another job_id`);
  }
  deps.runner?.wake();
  return jobView(job, await deps.store.counts(key), deps.clock.wallMs());
}
