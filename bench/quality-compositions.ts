// The batch compositions the quality bench serves and checks against direct unbatched output: a plain
// batch of K (every output encoding), a request joining another mid-run, candidates pruned from a
// running request, and planner rollouts (Planning.Plan: every rollout of a rank plan, and a CEM plan's
// best rollout). Each reports QualityRows through onRow.
import type { DreamClient } from "../clients/typescript/src";
import { packActions } from "../clients/typescript/src";
import type { CatalogEntry } from "../src/config/catalog";
import { FrameEncoding, Priority, type PredictBatchRequest } from "../src/gen/dream/v1/dream";
import { CostAggregation } from "../src/gen/dream/v1/planning";
import { DirectReference } from "./quality-reference";
import { compareRow, decodeRollout, OUTPUTS, type CandidatePair, type OutputSpec, type QualityRow, type RowContext } from "./quality-rows";
import type { LpipsModel } from "../gpu/lpips";

export interface CompositionEnv {
  client: DreamClient;
  entry: CatalogEntry;
  reference: DirectReference;
  lpips?: LpipsModel;
}

/** Deterministic actions [t, dim] for candidate `index`; different indices move differently. */
export function candidateActions(t: number, dim: number, index: number): Float32Array {
  const a = new Float32Array(t * dim);
  for (let s = 0; s < t; s++) for (let d = 0; d < dim; d++) a[s * dim + d] = 0.8 * Math.sin(0.1 * s + 0.37 * d + 1.3 * index);
  return a;
}

function size(entry: CatalogEntry): { height: number; width: number } {
  return { height: entry.resolution[0], width: entry.resolution[1] };
}

function request(env: CompositionEnv, actions: Float32Array[], t: number, seed: number, numSteps: number, output: OutputSpec, requestId = ""): PredictBatchRequest {
  const { entry } = env;
  return {
    model: entry.slug,
    startFrame: { encoding: FrameEncoding.RAW_RGB8, data: env.reference.startFrame, height: entry.resolution[0], width: entry.resolution[1] },
    candidates: actions.map((a) => packActions(a, t, entry.actionDim)),
    params: { numSteps, seed },
    output: { encoding: output.encoding, jpegQuality: output.jpegQuality },
    deadlineMs: 0,
    requestId,
    priority: Priority.PRIORITY_UNSPECIFIED,
  };
}

function ctx(env: CompositionEnv, composition: string, k: number, t: number, seed: number, numSteps: number, extra: Partial<RowContext> = {}): RowContext {
  return { model: env.entry.slug, composition, k, t, numSteps, seed, size: size(env.entry), lpips: env.lpips, ...extra };
}

/** K candidates in one PredictBatch, once per output encoding. */
export async function batchRows(env: CompositionEnv, k: number, t: number, seed: number, outputs: OutputSpec[], onRow: (r: QualityRow) => void): Promise<void> {
  const numSteps = env.entry.defaultNumSteps;
  const actions = Array.from({ length: k }, (_, i) => candidateActions(t, env.entry.actionDim, i));
  const direct = await Promise.all(actions.map((a) => env.reference.candidate(a, t, seed, numSteps)));
  // Diagnostic only: does ONE direct call with all k lanes give the unbatched frames too?
  const notes: string[] = [];
  if (k > 1) {
    const batched = await env.reference.batched(actions, t, seed, numSteps);
    const same = batched.every((frames, c) => frames.every((f, i) => Buffer.compare(f, direct[c]![i]!) === 0));
    notes.push(`direct k=${k} in one call ${same ? "equals" : "DIFFERS from"} direct k=1 per candidate`);
  }
  for (const output of outputs) {
    const { response } = await env.client.predictBatch(request(env, actions, t, seed, numSteps, output));
    const pairs: CandidatePair[] = [];
    for (const r of response.rollouts) pairs.push({ candidate: r.candidateIndex, served: await decodeRollout(r, size(env.entry)), direct: direct[r.candidateIndex]! });
    const problem = pairs.length !== k ? `${pairs.length} rollouts came back for ${k} candidates` : undefined;
    onRow(await compareRow(ctx(env, `K=${k}`, k, t, seed, numSteps, { notes: output.name === "RAW_RGB8" ? notes : [], problem }), output, pairs));
  }
}

/** Frames of a streamed candidate, assembled from its chunks (frame 0 = the start frame). */
class StreamedFrames {
  readonly frames = new Map<number, Uint8Array[]>();
  add(candidates: { candidateIndex: number; firstFrameIndex: number; frames: Uint8Array[] }[]): string | undefined {
    for (const c of candidates) {
      const got = this.frames.get(c.candidateIndex) ?? [];
      if (c.firstFrameIndex !== got.length) return `candidate ${c.candidateIndex}: chunk starts at frame ${c.firstFrameIndex}, ${got.length} received so far`;
      got.push(...c.frames);
      this.frames.set(c.candidateIndex, got);
    }
    return undefined;
  }
}

/**
 * A long streamed request A; when A's first chunk arrives, request B is submitted (different actions
 * and seed, same num_steps, so the scheduler batches their lanes together at the next chunk boundary).
 * Both must equal their own unbatched direct output. That they really overlapped is checked from the
 * client's side: B's answer must arrive before A's last chunk.
 */
export async function joinRows(env: CompositionEnv, k: number, tLong: number, tShort: number, numSteps: number, onRow: (r: QualityRow) => void): Promise<void> {
  const dim = env.entry.actionDim;
  const seedA = 11;
  const seedB = 12;
  const aActions = Array.from({ length: k }, (_, i) => candidateActions(tLong, dim, 20 + i));
  const bActions = Array.from({ length: k }, (_, i) => candidateActions(tShort, dim, 30 + i));
  const raw = OUTPUTS.RAW_RGB8;
  const stream = env.client.streamPredict(request(env, aActions, tLong, seedA, numSteps, raw));
  const a = new StreamedFrames();
  let problem: string | undefined;
  let bDone: Promise<{ at: number; frames: Map<number, Uint8Array[]> }> | undefined;
  let aLastChunkAt = 0;
  for await (const ev of stream) {
    if (ev.kind !== "chunk") continue;
    problem ??= a.add(ev.candidates);
    aLastChunkAt = performance.now();
    if (ev.chunkIndex === 0) {
      bDone = env.client.predictBatch(request(env, bActions, tShort, seedB, numSteps, raw)).then(async ({ response }) => {
        const at = performance.now();
        const frames = new Map<number, Uint8Array[]>();
        for (const r of response.rollouts) frames.set(r.candidateIndex, await decodeRollout(r, size(env.entry)));
        return { at, frames };
      });
    }
  }
  if (!bDone) throw new Error("join: the long request streamed no chunk");
  const b = await bDone;
  const overlapMs = aLastChunkAt - b.at;
  if (overlapMs <= 0) problem ??= `not exercised: B finished ${(-overlapMs).toFixed(0)} ms after A's last chunk, so they may not have shared a batch`;
  const pairs: CandidatePair[] = [];
  for (let i = 0; i < k; i++) pairs.push({ candidate: `A${i}`, served: a.frames.get(i) ?? [], direct: await env.reference.candidate(aActions[i]!, tLong, seedA, numSteps) });
  for (let i = 0; i < k; i++) pairs.push({ candidate: `B${i}`, served: b.frames.get(i) ?? [], direct: await env.reference.candidate(bActions[i]!, tShort, seedB, numSteps) });
  const notes = [`A: K=${k} T=${tLong} seed ${seedA}; B: K=${k} T=${tShort} seed ${seedB}, sent when A's chunk 0 arrived; B's answer came ${overlapMs.toFixed(0)} ms before A's last chunk`];
  onRow(await compareRow(ctx(env, "join mid-batch", 2 * k, tLong, seedA, numSteps, { notes, problem }), raw, pairs));
}

/**
 * A streamed request of K candidates; when its first chunk arrives, the candidates `cancel` are cut
 * (CancelCandidates). The survivors must equal direct output in full, and what the cancelled ones
 * delivered before stopping must equal the same prefix of theirs.
 */
export async function pruneRows(env: CompositionEnv, k: number, t: number, numSteps: number, cancel: number[], onRow: (r: QualityRow) => void): Promise<void> {
  const seed = 13;
  const actions = Array.from({ length: k }, (_, i) => candidateActions(t, env.entry.actionDim, 40 + i));
  const requestId = `quality-prune-${env.entry.slug}-${Date.now()}`;
  const stream = env.client.streamPredict(request(env, actions, t, seed, numSteps, OUTPUTS.RAW_RGB8, requestId));
  const got = new StreamedFrames();
  let problem: string | undefined;
  let cancelled: number[] = [];
  let summaryCancelled: number[] = [];
  for await (const ev of stream) {
    if (ev.kind === "summary") {
      summaryCancelled = ev.cancelledCandidates;
      continue;
    }
    problem ??= got.add(ev.candidates);
    if (ev.chunkIndex === 0) cancelled = (await env.client.cancelCandidates(requestId, cancel)).cancelled;
  }
  const full = t + 1;
  if (JSON.stringify([...summaryCancelled].sort()) !== JSON.stringify([...cancel].sort()) || JSON.stringify([...cancelled].sort()) !== JSON.stringify([...cancel].sort())) {
    problem ??= `not exercised: asked to cancel [${cancel}], the server cancelled [${cancelled}] (summary: [${summaryCancelled}])`;
  }
  const pairs: CandidatePair[] = [];
  const notes: string[] = [];
  for (let i = 0; i < k; i++) {
    const served = got.frames.get(i) ?? [];
    const direct = await env.reference.candidate(actions[i]!, t, seed, numSteps);
    if (cancel.includes(i)) {
      if (served.length >= full) problem ??= `not exercised: cancelled candidate ${i} still delivered all ${full} frames`;
      notes.push(`candidate ${i}: cancelled when chunk 0 arrived; ${served.length} of ${full} frames delivered (that prefix compared)`);
      pairs.push({ candidate: `${i} (cancelled after ${served.length} frames)`, served, direct: direct.slice(0, served.length) });
    } else {
      pairs.push({ candidate: i, served, direct });
    }
  }
  onRow(await compareRow(ctx(env, "pruned candidates", k, t, seed, numSteps, { notes, problem }), OUTPUTS.RAW_RGB8, pairs));
}

/**
 * Planning.Plan with the rank planner over K given candidates and output.top_k = K in RAW_RGB8: the
 * response's rollouts (rendered by the planner's engine requests, scored next to the model) must equal
 * each candidate's unbatched direct output. Sampling planners (CEM, MPPI) draw their candidates on the
 * server and return only the best sequence, so the rank planner is the one whose every rollout can be
 * reproduced from what the response says (cemRows covers a sampling planner's best rollout).
 */
export async function planRows(env: CompositionEnv, k: number, t: number, onRow: (r: QualityRow) => void): Promise<void> {
  const { entry } = env;
  const seed = 14;
  const numSteps = entry.defaultNumSteps;
  const actions = Array.from({ length: k }, (_, i) => candidateActions(t, entry.actionDim, 50 + i));
  const frame = { encoding: FrameEncoding.RAW_RGB8, data: env.reference.startFrame, height: entry.resolution[0], width: entry.resolution[1] };
  const { response } = await env.client.plan({
    model: entry.slug,
    startFrame: frame,
    cost: { goal: frame, aggregation: CostAggregation.MEAN },
    planner: { $case: "rank", value: { candidates: actions.map((a) => packActions(a, t, entry.actionDim)) } },
    params: { numSteps, seed },
    output: { topK: k, encoding: { encoding: FrameEncoding.RAW_RGB8, jpegQuality: 0 } },
  });
  const pairs: CandidatePair[] = [];
  for (const r of response.rollouts) pairs.push({ candidate: r.candidateIndex, served: await decodeRollout(r, size(entry)), direct: await env.reference.candidate(actions[r.candidateIndex]!, t, seed, numSteps) });
  const problem = pairs.length !== k ? `${pairs.length} rollouts came back for top_k = ${k}` : undefined;
  const notes = [`rank planner, cost MEAN against the start frame, ranking [${response.ranking}]`];
  onRow(await compareRow(ctx(env, "planner rollouts (rank)", k, t, seed, numSteps, { notes, problem }), OUTPUTS.RAW_RGB8, pairs));
}

/**
 * Planning.Plan with CEM (server-sampled candidates) and output.best_rollout in RAW_RGB8. The response
 * names only the best sequence (best_actions) and renders the best candidate of the LAST iteration;
 * the two are the same candidate exactly when the best sequence came from the last iteration, and then
 * the rollout must equal best_actions' unbatched direct output. Seeds are tried in turn (at most
 * three) until a plan's best comes from its last iteration.
 */
export async function cemRows(env: CompositionEnv, samples: number, t: number, onRow: (r: QualityRow) => void): Promise<void> {
  const { entry } = env;
  const numSteps = entry.defaultNumSteps;
  const iterations = 2;
  const frame = { encoding: FrameEncoding.RAW_RGB8, data: env.reference.startFrame, height: entry.resolution[0], width: entry.resolution[1] };
  const tried: string[] = [];
  for (const seed of [15, 16, 17]) {
    const { response } = await env.client.plan({
      model: entry.slug,
      startFrame: frame,
      actionSteps: t,
      cost: { goal: frame, aggregation: CostAggregation.MEAN },
      planner: { $case: "cem", value: { samples, iterations, elites: 2 } },
      params: { numSteps, seed },
      output: { bestRollout: true, encoding: { encoding: FrameEncoding.RAW_RGB8, jpegQuality: 0 } },
    });
    const last = response.iterationsCompleted - 1;
    if (response.bestIteration !== last || response.rollouts.length !== 1 || !response.bestActions) {
      tried.push(`seed ${seed}: best from iteration ${response.bestIteration} of ${response.iterationsCompleted}`);
      continue;
    }
    const data = response.bestActions.data;
    const best = new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    const r = response.rollouts[0]!;
    const pairs: CandidatePair[] = [{ candidate: `best (candidate ${r.candidateIndex} of iteration ${last})`, served: await decodeRollout(r, size(entry)), direct: await env.reference.candidate(best, t, seed, numSteps) }];
    const notes = [`CEM ${samples} samples x ${iterations} iterations, seed ${seed}; best_actions rendered directly${tried.length ? ` (earlier seeds not comparable: ${tried.join("; ")})` : ""}`];
    onRow(await compareRow(ctx(env, "planner best rollout (cem)", samples, t, seed, numSteps, { notes }), OUTPUTS.RAW_RGB8, pairs));
    return;
  }
  onRow(await compareRow(ctx(env, "planner best rollout (cem)", samples, t, 0, numSteps, { problem: `not comparable: no plan's best came from its last iteration (${tried.join("; ")})` }), OUTPUTS.RAW_RGB8, []));
}
