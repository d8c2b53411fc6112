// The TS client's jobs calls (createJob / getJob / listJobs / cancelJob / waitJob) against a scripted
// dream.v1.Jobs gRPC server: what goes on the wire, the retry a jobId makes safe, and waitJob's polling,
// deadline and abort.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { DreamClient, jobFinished, JobState, Priority } from "../../clients/typescript/src";
import { Job, JobsService, type CancelJobRequest, type CreateJobRequest, type GetJobRequest, type ListJobsRequest } from "../../src/gen/dream/v1/jobs";
import { rejection, serviceError, type Failure } from "./fake-engine";

type Step = { ok: Job } | { fail: Failure };

class FakeJobs {
  readonly calls: { method: string; request: unknown; metadata: grpc.Metadata }[] = [];
  create: Step[] = [];
  get: Step[] = [];
  cancel: Step[] = [];
  list: Job[] = [];
  private readonly server = new grpc.Server();
  port = 0;

  static async start(): Promise<FakeJobs> {
    const f = new FakeJobs();
    const answer = <Req>(method: string, script: () => Step[]) => (call: grpc.ServerUnaryCall<Req, Job>, callback: grpc.sendUnaryData<Job>) => {
      f.calls.push({ method, request: call.request, metadata: call.metadata });
      const step = script().length > 1 ? script().shift()! : script()[0];
      if (!step) callback(serviceError({ code: grpc.status.UNIMPLEMENTED }));
      else if ("ok" in step) callback(null, step.ok);
      else callback(serviceError(step.fail));
    };
    f.server.addService(JobsService, {
      createJob: answer<CreateJobRequest>("createJob", () => f.create),
      getJob: answer<GetJobRequest>("getJob", () => f.get),
      cancelJob: answer<CancelJobRequest>("cancelJob", () => f.cancel),
      listJobs: (call: grpc.ServerUnaryCall<ListJobsRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        f.calls.push({ method: "listJobs", request: call.request, metadata: call.metadata });
        callback(null, { jobs: f.list });
      },
    });
    f.port = await new Promise<number>((resolve, reject) => f.server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
    return f;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  callsOf(method: string) {
    return this.calls.filter((c) => c.method === method);
  }

  stop(): void {
    this.server.forceShutdown();
  }
}

const job = (state: JobState, rowsDone = 0, extra: Partial<Job> = {}): Job =>
  Job.fromPartial({ jobId: "j1", model: "m", state, rowsTotal: 3, rowsDone, rowsPending: 3 - rowsDone, frames: rowsDone * 5, cost: { micros: rowsDone * 2500, usd: "" }, priority: Priority.BATCH, ...extra });

describe("TS client: jobs", function () {
  this.timeout(20_000);
  let server: FakeJobs;
  let client: DreamClient;
  beforeEach(async () => {
    server = await FakeJobs.start();
    client = new DreamClient({ address: server.address, apiKey: "dre_test", retryBackoffMs: 10, retryBackoffMsMax: 20 });
  });
  afterEach(() => {
    client.close();
    server.stop();
  });

  it("createJob sends the CreateJobRequest with a fresh jobId, and the same one on a retry after a lost connection", async () => {
    server.create = [{ fail: { code: grpc.status.UNAVAILABLE } }, { ok: job(JobState.JOB_PENDING) }];
    const created = await client.createJob({ model: "m", source: { source: { $case: "dir", value: "datasets/a" } }, sink: { dir: "out/a" }, budgetMicros: 5_000_000, priority: Priority.BATCH });
    assert.equal(created.state, JobState.JOB_PENDING);
    const [first, second] = server.callsOf("createJob");
    assert.ok(second, "retried: a grpc-js UNAVAILABLE with a jobId is safe to resend");
    const sent = first!.request as CreateJobRequest;
    assert.match(sent.jobId, /^[0-9a-f-]{36}$/);
    assert.equal((second!.request as CreateJobRequest).jobId, sent.jobId);
    assert.deepEqual(sent.source?.source, { $case: "dir", value: "datasets/a" });
    assert.equal(sent.sink?.dir, "out/a");
    assert.equal(sent.budgetMicros, 5_000_000);
    assert.equal(first!.metadata.get("authorization")[0], "Bearer dre_test");
  });

  it("createJob keeps a caller's jobId and uploads rows", async () => {
    server.create = [{ ok: job(JobState.JOB_PENDING) }];
    const row = { name: "r0", startFrame: { encoding: 2, data: new Uint8Array([0x89, 0x50]), height: 0, width: 0 }, actions: { data: new Uint8Array(8), shape: [1, 2] } };
    await client.createJob({ model: "m", jobId: "mine", source: { source: { $case: "rows", value: { rows: [row] } } }, sink: { dir: "o" } });
    const sent = server.callsOf("createJob")[0]!.request as CreateJobRequest;
    assert.equal(sent.jobId, "mine");
    assert.equal(sent.source?.source?.$case, "rows");
    assert.equal(sent.source?.source?.$case === "rows" && sent.source.source.value.rows[0]!.name, "r0");
  });

  it("createJob does not resend what the server refused for good", async () => {
    server.create = [{ fail: { code: grpc.status.FAILED_PRECONDITION, reason: "INSUFFICIENT_CREDITS" } }, { ok: job(JobState.JOB_PENDING) }];
    const err = await rejection(client.createJob({ model: "m", sink: { dir: "o" } }));
    assert.equal(err.reason, "INSUFFICIENT_CREDITS");
    assert.equal(server.callsOf("createJob").length, 1);
  });

  it("getJob, listJobs and cancelJob", async () => {
    server.get = [{ ok: job(JobState.JOB_RUNNING, 1) }];
    server.cancel = [{ ok: job(JobState.JOB_CANCELLED, 1) }];
    server.list = [job(JobState.JOB_SUCCEEDED, 3, { jobId: "j2" }), job(JobState.JOB_RUNNING, 1)];
    const got = await client.getJob("j1");
    assert.equal((server.callsOf("getJob")[0]!.request as GetJobRequest).jobId, "j1");
    assert.deepEqual([got.rowsDone, got.frames, got.cost?.micros, jobFinished(got)], [1, 5, 2500, false]);
    const listed = await client.listJobs(7);
    assert.equal((server.callsOf("listJobs")[0]!.request as ListJobsRequest).limit, 7);
    assert.deepEqual(listed.map((j) => j.jobId), ["j2", "j1"]);
    const cancelled = await client.cancelJob("j1");
    assert.equal((server.callsOf("cancelJob")[0]!.request as CancelJobRequest).jobId, "j1");
    assert.ok(jobFinished(cancelled));
  });

  it("waitJob polls until the job ends, reporting each state", async () => {
    server.get = [{ ok: job(JobState.JOB_PENDING) }, { ok: job(JobState.JOB_RUNNING, 1) }, { ok: job(JobState.JOB_RUNNING, 2) }, { ok: job(JobState.JOB_BUDGET_EXHAUSTED, 2, { error: "budget" }) }];
    const seen: number[] = [];
    const final = await client.waitJob("j1", { pollMs: 10, onProgress: (j) => seen.push(j.rowsDone) });
    assert.equal(final.state, JobState.JOB_BUDGET_EXHAUSTED);
    assert.equal(final.error, "budget");
    assert.deepEqual(seen, [0, 1, 2, 2]);
    assert.equal(server.callsOf("getJob").length, 4);
  });

  it("waitJob's timeout bounds the whole wait, and its signal cancels it", async () => {
    server.get = [{ ok: job(JobState.JOB_RUNNING, 1) }];
    const started = Date.now();
    const late = await rejection(client.waitJob("j1", { pollMs: 20, timeoutMs: 150 }));
    assert.equal(late.reason, "DEADLINE_EXCEEDED");
    assert.ok(Date.now() - started < 1000);
    assert.ok(server.callsOf("getJob").length >= 2);
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("enough")), 50);
    const cancelled = await rejection(client.waitJob("j1", { pollMs: 20, signal: controller.signal }));
    assert.equal(cancelled.reason, "CANCELLED");
    await assert.rejects(client.waitJob("j1", { pollMs: 0 }), RangeError);
  });
});
