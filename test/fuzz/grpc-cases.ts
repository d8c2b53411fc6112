// Seeded gRPC cases: well-formed requests for every method encoded with the generated codecs, then
// mutated at the byte level (flipped bits, truncated varints and lengths, wrong wire types) or replaced
// by noise, sent with a passthrough serializer so the server's own deserializer meets the bytes.
import { FrameEncoding, GetModelRequest, PredictBatchRequest, PredictRequest, CancelCandidatesRequest, CreateTopupRequest, ListTransactionsRequest } from "../../src/gen/dream/v1/dream";
import { D, STEPS_MAX, TINY, type Seeds, frameBytes } from "./inputs";
import { mutateBytes } from "./mutate";
import type { Prng } from "./prng";

export interface GrpcCase {
  kind: string;
  path: string;
  stream: boolean;
  bytes: Buffer;
  /** The authorization metadata value, or undefined for none. */
  authorization: string | undefined;
}

/** `valid`: every field is one the server accepts, so the case reaches reserve, the engine and settle. */
type Builder = (rng: Prng, seeds: Seeds, other: string, valid: boolean) => Uint8Array;

const actions = (rng: Prng, seeds: Seeds, valid: boolean) => {
  const steps = rng.int(1, STEPS_MAX);
  const npy = seeds.npy(steps);
  return { data: npy.subarray(npy.length - steps * D * 4), shape: valid || rng.chance(0.9) ? [steps, D] : [rng.int(0, 100), rng.int(0, 1000)] };
};
const frame = (rng: Prng, seeds: Seeds, valid: boolean) => {
  if (valid) return rng.chance(0.5) ? { encoding: FrameEncoding.PNG, data: seeds.png } : { encoding: FrameEncoding.RAW_RGB8, data: seeds.raw, height: 48, width: 64 };
  return rng.chance(0.5) ? { encoding: FrameEncoding.PNG, data: frameBytes(rng, seeds) } : { encoding: FrameEncoding.RAW_RGB8, data: seeds.raw, height: rng.pick([48, 0, 47, 4096]), width: rng.pick([64, 0, 65]) };
};
const model = (rng: Prng, other: string, valid: boolean) => (valid ? TINY : rng.pick([TINY, TINY, TINY, "x".repeat(rng.int(1000, 100_000)), other, "%ZZ", ""]));
const params = (rng: Prng, valid: boolean) => ({ numSteps: rng.pick([0, 1, 2]), seed: valid ? rng.int(0, 1e9) : rng.pick([0, 1, 2 ** 53]) });
/** params { seed: 2^64 − 1 } as raw bytes, appended so it merges over the encoded params (proto3 merge). */
const SEED_MAX_PARAMS = Buffer.from([0x22, 0x0b, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
const requestId = (rng: Prng, other: string, valid: boolean) => (valid ? rng.pick(["", rng.uuid()]) : rng.pick(["", rng.uuid(), "x".repeat(rng.int(100, 5000)), other]));

const METHODS: Array<{ path: string; stream?: boolean; build: Builder }> = [
  { path: "/dream.v1.Models/ListModels", build: () => new Uint8Array() },
  { path: "/dream.v1.Models/GetModel", build: (rng, _s, other, valid) => GetModelRequest.encode({ slug: model(rng, other, valid) }).finish() },
  {
    path: "/dream.v1.Models/Predict",
    build: (rng, s, other, valid) =>
      PredictRequest.encode(PredictRequest.fromPartial({ model: model(rng, other, valid), startFrame: frame(rng, s, valid), actions: actions(rng, s, valid), params: params(rng, valid), requestId: requestId(rng, other, valid) })).finish(),
  },
  {
    path: "/dream.v1.Models/PredictBatch",
    build: (rng, s, other, valid) => {
      const steps = rng.int(1, STEPS_MAX);
      const same = () => ({ data: s.npy(steps).subarray(s.npy(steps).length - steps * D * 4), shape: [steps, D] });
      const candidates = valid ? [same(), same()] : [actions(rng, s, valid), actions(rng, s, valid)];
      return PredictBatchRequest.encode(PredictBatchRequest.fromPartial({ model: model(rng, other, valid), startFrame: frame(rng, s, valid), candidates, params: params(rng, valid), requestId: requestId(rng, other, valid) })).finish();
    },
  },
  {
    path: "/dream.v1.Models/StreamPredict",
    stream: true,
    build: (rng, s, other, valid) =>
      PredictBatchRequest.encode(PredictBatchRequest.fromPartial({ model: model(rng, other, valid), startFrame: frame(rng, s, valid), candidates: [actions(rng, s, valid)], params: params(rng, valid) })).finish(),
  },
  { path: "/dream.v1.Models/CancelCandidates", build: (rng, _s, other, valid) => CancelCandidatesRequest.encode({ requestId: requestId(rng, other, valid), candidateIndices: [rng.int(0, 9)] }).finish() },
  { path: "/dream.v1.Billing/GetBalance", build: () => new Uint8Array() },
  { path: "/dream.v1.Billing/CreateTopup", build: (rng) => CreateTopupRequest.encode({ amountUsd: rng.pick([5, 25, 0, -1, 1e12]) }).finish() },
  { path: "/dream.v1.Billing/ListTransactions", build: (rng) => ListTransactionsRequest.encode({ limit: rng.pick([0, 1, 10, 4294967295]) }).finish() },
  { path: "/dream.v1.Status/GetStatus", build: () => new Uint8Array() },
  { path: "/dream.v1.Status/Health", build: () => new Uint8Array() },
  { path: "/grpc.health.v1.Health/Check", build: (rng) => Buffer.from(rng.chance(0.5) ? [] : [0x0a, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f]) },
  { path: "/dream.v1.Models/NoSuchMethod", build: (rng) => rng.bytes(rng.int(0, 64)) },
];

export function grpcCase(rng: Prng, seeds: Seeds, key: string, other: string): GrpcCase {
  const method = rng.pick(METHODS);
  const valid = rng.chance(0.3);
  let well = Buffer.from(method.build(rng, seeds, other, valid));
  if (!valid && method.path.includes("Predict") && rng.chance(0.1)) well = Buffer.concat([well, SEED_MAX_PARAMS]);
  const r = valid ? 0 : rng.next();
  const bytes = r < 0.45 ? well : r < 0.9 ? mutateBytes(rng, well, 1 << 22) : rng.bytes(rng.int(0, 2048));
  const a = rng.next();
  const authorization = a < 0.85 ? `Bearer ${key}` : a < 0.92 ? undefined : rng.pick(["Bearer", `Bearer dre_${"b".repeat(43)}`, `Bearer ${key}x`, rng.text(40)]);
  return { kind: `grpc ${method.path} ${valid ? "valid" : r < 0.45 ? "well-formed" : r < 0.9 ? "mutated" : "noise"}`, path: method.path, stream: method.stream ?? false, bytes, authorization };
}
