// The one table of RPC implementations, keyed by gRPC method path. The gRPC server and the REST shim
// both serve exactly this table.
import type { Clock } from "../core/clock";
import type * as pb from "../gen/dream/v1/dream";
import type { StatusRecorder } from "../observability/status";
import { createTopup, getBalance, listTransactions } from "./billing-rpcs";
import { cancelCandidates } from "./cancel";
import type { CallContext, MethodImpl, MethodTable, StreamHandler, UnaryHandler } from "./context";
import type { Guard } from "./guard";
import { modelSpec } from "./model-spec";
import { predict, predictBatch, batchInput } from "./predict";
import type { PredictFlow } from "./predict-flow";
import type { BillingPort, CodecPort } from "./ports";
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
}

type Access = NonNullable<MethodImpl["access"]>;

/**
 * Who may call each method, in one place. Transports run the matching guard before reading a body,
 * and the handlers call the same guard again (memoized), so a handler used without a transport is
 * guarded too.
 */
export const METHOD_ACCESS: Readonly<Record<string, Access>> = Object.freeze({
  "/dream.v1.Models/ListModels": "public",
  "/dream.v1.Models/GetModel": "public",
  "/dream.v1.Models/Predict": "authorized",
  "/dream.v1.Models/PredictBatch": "authorized",
  "/dream.v1.Models/StreamPredict": "authorized",
  "/dream.v1.Models/CancelCandidates": "authorized",
  "/dream.v1.Billing/GetBalance": "authorized",
  "/dream.v1.Billing/CreateTopup": "authorized",
  "/dream.v1.Billing/ListTransactions": "authorized",
  "/dream.v1.Status/GetStatus": "public",
  "/dream.v1.Status/Health": "public",
});

const unary = <Req, Res>(handler: UnaryHandler<Req, Res>) => ({ kind: "unary" as const, handler });
const stream = <Req, Res>(handler: StreamHandler<Req, Res>) => ({ kind: "server-stream" as const, handler });

export function buildMethods(d: ServiceDeps): MethodTable {
  const publicCall = (ctx: CallContext) => d.guard.publicCall(ctx);
  const admitters: Record<Access, (ctx: CallContext) => Promise<void>> = {
    public: publicCall,
    authorized: async (ctx) => void (await d.guard.authorize(ctx)),
  };
  const withAccess = ([path, impl]: [string, MethodImpl]): [string, MethodImpl] => {
    const access = METHOD_ACCESS[path];
    if (access === undefined) throw new Error(`${path}: no access policy in METHOD_ACCESS`);
    return [path, { ...impl, access, admit: admitters[access] }];
  };
  return new Map<string, MethodImpl>(([
    ["/dream.v1.Models/ListModels", unary(async (_req: pb.ListModelsRequest, ctx): Promise<pb.ListModelsResponse> => {
      await publicCall(ctx);
      return { models: d.models.list().map(modelSpec) };
    })],
    ["/dream.v1.Models/GetModel", unary(async (req: pb.GetModelRequest, ctx): Promise<pb.ModelSpec> => {
      await publicCall(ctx);
      return modelSpec(d.models.get(req.slug));
    })],
    ["/dream.v1.Models/Predict", unary((req: pb.PredictRequest, ctx) => predict(d.flow, d.codecs, req, ctx))],
    ["/dream.v1.Models/PredictBatch", unary((req: pb.PredictBatchRequest, ctx) => predictBatch(d.flow, d.codecs, batchInput(req), ctx))],
    ["/dream.v1.Models/StreamPredict", stream((req: pb.PredictBatchRequest, ctx, send: (m: pb.StreamPredictResponse) => Promise<void>) => streamPredict(d.flow, d.codecs, req, ctx, send))],
    ["/dream.v1.Models/CancelCandidates", unary((req: pb.CancelCandidatesRequest, ctx) => cancelCandidates(d.guard, d.inflight, req, ctx))],
    ["/dream.v1.Billing/GetBalance", unary((_req: pb.GetBalanceRequest, ctx) => getBalance(d.guard, d.billing, ctx))],
    ["/dream.v1.Billing/CreateTopup", unary((req: pb.CreateTopupRequest, ctx) => createTopup(d.guard, d.billing, req, ctx))],
    ["/dream.v1.Billing/ListTransactions", unary((req: pb.ListTransactionsRequest, ctx) => listTransactions(d.guard, d.billing, req, ctx))],
    ["/dream.v1.Status/GetStatus", unary(async (_req: pb.GetStatusRequest, ctx): Promise<pb.GetStatusResponse> => {
      await publicCall(ctx);
      return getStatus(d.models, d.status, d.readiness, d.clock, d.startedWallMs, d.version);
    })],
    ["/dream.v1.Status/Health", unary(async (_req: pb.HealthRequest, ctx): Promise<pb.HealthResponse> => {
      await publicCall(ctx);
      const h = await health(d.models, d.readiness);
      // Load balancers and orchestrators read readiness from the status code.
      if (!h.ready) ctx.httpStatus = 503;
      return h;
    })],
  ] as [string, MethodImpl][]).map(withAccess));
}
