// The one table of RPC implementations, keyed by gRPC method path. The gRPC server and the REST shim
// both serve exactly this table.
import type { Clock } from "../core/clock";
import type * as pb from "../gen/dream/v1/dream";
import type * as jobs from "../gen/dream/v1/jobs";
import type * as planning from "../gen/dream/v1/planning";
import type { Logger } from "../observability/logger";
import type { StatusRecorder } from "../observability/status";
import { createTopup, getBalance, listTransactions } from "./billing-rpcs";
import { cancelCandidates } from "./cancel";
import type { Admission, BidiHandler, CallContext, MethodImpl, MethodTable, StreamHandler, UnaryHandler } from "./context";
import type { Guard } from "./guard";
import { createJob } from "./jobs/create";
import { jobsOrUnavailable, type JobsDeps } from "./jobs/deps";
import { cancelJob, getJob, listJobs } from "./jobs/rpcs";
import { modelSpec } from "./model-spec";
import { plan, streamPlan, type PlanDeps } from "./plan/plan";
import { closeSession } from "./plan/sessions/close";
import { control } from "./plan/sessions/control";
import { createSession } from "./plan/sessions/create";
import { stepSession, type StepDeps } from "./plan/sessions/step";
import { SessionStore } from "./plan/sessions/store";
import { predict, predictBatch, batchInput } from "./predict";
import type { PredictFlow } from "./predict-flow";
import type { Account, BillingPort, CodecPort } from "./ports";
import type { InflightRequests, ModelRegistry } from "./registry";
import { getStatus, health, type Readiness } from "./status-rpcs";
import { streamPredict } from "./stream-predict";

export interface ServiceDeps {
  models: ModelRegistry;
  inflight: InflightRequests;
  guard: Guard;
  billing: BillingPort;
  codecs: CodecPort;
  flow: PredictFlow;
  status: StatusRecorder;
  readiness: Readiness;
  clock: Clock;
  startedWallMs: number;
  version: string;
  logger: Logger;
  /** Open control sessions; default a store of this table's own on `clock`. */
  sessions?: SessionStore;
  /** Durable batch jobs; absent, the Jobs methods answer UNAVAILABLE. */
  jobs?: JobsDeps;
}

function planDeps(d: ServiceDeps): PlanDeps {
  return { models: d.models, inflight: d.inflight, billing: d.billing, codecs: d.codecs, clock: d.clock, status: d.status, logger: d.logger, chargeMicros: (frames, price) => d.flow.chargeMicros(frames, price) };
}

/** The account an authorized method's guard admitted (a public Admission here is a wiring bug). */
function accountOf(admission: Admission): Account {
  if (admission.access !== "authorized") throw new Error("an authorized method was handed a public admission");
  return admission.account;
}

/**
 * Who may call is declared once per method, by the constructor its entry is built with: `open*`
 * methods answer without a key (bounded per IP), `keyed*` ones need an API key and get its Account.
 * The guard runs once per call, in the transport, before any body is read (MethodImpl.admit); the
 * handler receives its outcome and cannot be reached without one.
 */
function policies(guard: Guard) {
  const open: MethodImpl["admit"] = async (ctx) => {
    await guard.publicCall(ctx);
    return { access: "public" };
  };
  const keyed: MethodImpl["admit"] = async (ctx) => ({ access: "authorized", account: await guard.authorize(ctx) });
  return {
    openUnary: <Req, Res>(fn: (req: Req, ctx: CallContext) => Promise<Res>): MethodImpl => ({ kind: "unary", access: "public", admit: open, handler: ((req: Req, ctx: CallContext) => fn(req, ctx)) as UnaryHandler<Req, Res> }),
    keyedUnary: <Req, Res>(fn: (req: Req, ctx: CallContext, account: Account) => Promise<Res>): MethodImpl => ({
      kind: "unary",
      access: "authorized",
      admit: keyed,
      handler: ((req: Req, ctx: CallContext, admission: Admission) => fn(req, ctx, accountOf(admission))) as UnaryHandler<Req, Res>,
    }),
    keyedStream: <Req, Res>(fn: (req: Req, ctx: CallContext, account: Account, send: (m: Res) => Promise<void>) => Promise<void>): MethodImpl => ({
      kind: "server-stream",
      access: "authorized",
      admit: keyed,
      handler: ((req: Req, ctx: CallContext, admission: Admission, send: (m: Res) => Promise<void>) => fn(req, ctx, accountOf(admission), send)) as StreamHandler<Req, Res>,
    }),
    keyedBidi: <Req, Res>(fn: (requests: AsyncIterable<Req>, ctx: CallContext, account: Account, send: (m: Res) => Promise<void>) => Promise<void>): MethodImpl => ({
      kind: "bidi-stream",
      access: "authorized",
      admit: keyed,
      handler: ((requests: AsyncIterable<Req>, ctx: CallContext, admission: Admission, send: (m: Res) => Promise<void>) => fn(requests, ctx, accountOf(admission), send)) as BidiHandler<Req, Res>,
    }),
  };
}

export function buildMethods(d: ServiceDeps): MethodTable {
  const { openUnary, keyedUnary, keyedStream, keyedBidi } = policies(d.guard);
  const planning = planDeps(d);
  const sessions: StepDeps = { models: d.models, codecs: d.codecs, sessions: d.sessions ?? new SessionStore({ clock: d.clock }), plan: planning };
  return new Map<string, MethodImpl>([
    ["/dream.v1.Models/ListModels", openUnary(async (_req: pb.ListModelsRequest): Promise<pb.ListModelsResponse> => ({ models: d.models.list().map(modelSpec) }))],
    ["/dream.v1.Models/GetModel", openUnary(async (req: pb.GetModelRequest): Promise<pb.ModelSpec> => modelSpec(d.models.get(req.slug)))],
    ["/dream.v1.Models/Predict", keyedUnary((req: pb.PredictRequest, ctx, account) => predict(d.flow, d.codecs, req, ctx, account))],
    ["/dream.v1.Models/PredictBatch", keyedUnary((req: pb.PredictBatchRequest, ctx, account) => predictBatch(d.flow, d.codecs, batchInput(req), ctx, account))],
    ["/dream.v1.Models/StreamPredict", keyedStream((req: pb.PredictBatchRequest, ctx, account, send: (m: pb.StreamPredictResponse) => Promise<void>) => streamPredict(d.flow, d.codecs, req, ctx, account, send))],
    ["/dream.v1.Models/CancelCandidates", keyedUnary((req: pb.CancelCandidatesRequest, _ctx, account) => cancelCandidates(d.inflight, req, account))],
    ["/dream.v1.Planning/Plan", keyedUnary((req: planning.PlanRequest, ctx, account) => plan(planning, req, ctx, account))],
    ["/dream.v1.Planning/StreamPlan", keyedStream((req: planning.PlanRequest, ctx, account, send: (e: planning.PlanEvent) => Promise<void>) => streamPlan(planning, req, ctx, account, send))],
    ["/dream.v1.Sessions/CreateSession", keyedUnary((req: planning.CreateSessionRequest, _ctx, account) => createSession(sessions, req, account))],
    ["/dream.v1.Sessions/StepSession", keyedUnary((req: planning.StepSessionRequest, ctx, account) => stepSession(sessions, req, ctx, account))],
    ["/dream.v1.Sessions/CloseSession", keyedUnary((req: planning.CloseSessionRequest, _ctx, account) => closeSession(sessions.sessions, req, account))],
    ["/dream.v1.Sessions/Control", keyedBidi((requests: AsyncIterable<planning.ControlRequest>, ctx, account, send: (m: planning.ControlResponse) => Promise<void>) => control(sessions, requests, ctx, account, send))],
    ["/dream.v1.Jobs/CreateJob", keyedUnary((req: jobs.CreateJobRequest, _ctx, account) => createJob(jobsOrUnavailable(d.jobs), req, account))],
    ["/dream.v1.Jobs/GetJob", keyedUnary((req: jobs.GetJobRequest, _ctx, account) => getJob(jobsOrUnavailable(d.jobs), req, account))],
    ["/dream.v1.Jobs/ListJobs", keyedUnary((req: jobs.ListJobsRequest, _ctx, account) => listJobs(jobsOrUnavailable(d.jobs), req, account))],
    ["/dream.v1.Jobs/CancelJob", keyedUnary((req: jobs.CancelJobRequest, _ctx, account) => cancelJob(jobsOrUnavailable(d.jobs), req, account))],
    ["/dream.v1.Billing/GetBalance", keyedUnary((_req: pb.GetBalanceRequest, _ctx, account) => getBalance(d.billing, account))],
    ["/dream.v1.Billing/CreateTopup", keyedUnary((req: pb.CreateTopupRequest, _ctx, account) => createTopup(d.billing, req, account))],
    ["/dream.v1.Billing/ListTransactions", keyedUnary((req: pb.ListTransactionsRequest, _ctx, account) => listTransactions(d.billing, req, account))],
    ["/dream.v1.Status/GetStatus", openUnary(async (_req: pb.GetStatusRequest): Promise<pb.GetStatusResponse> => getStatus(d.models, d.status, d.readiness, d.clock, d.startedWallMs, d.version))],
    [
      "/dream.v1.Status/Health",
      openUnary(async (_req: pb.HealthRequest, ctx): Promise<pb.HealthResponse> => {
        const h = await health(d.models, d.readiness);
        // Load balancers and orchestrators read readiness from the status code.
        if (!h.ready) ctx.httpStatus = 503;
        return h;
      }),
    ],
  ]);
}
