// The runner's worker thread: owns the ORT sessions and every latent state of its model, so that
// session.run (synchronous in onnxruntime-node) never blocks the server's event loop. Requests are
// handled strictly in arrival order (one promise chain), replies carry frames as a transferred buffer.
import { parentPort, workerData } from "node:worker_threads";
import { ServiceError } from "../src/core/errors";
import { limits } from "../src/core/limits";
import { NoiseCache, packStep, scatterNextState } from "./packing";
import type { EncodeItem, StepLane } from "../src/scheduler/executor";
import { WORKER_EXIT_LIFELINE, WORKER_KIND, type FaultKind, type Reply, type Request, type Status, type WireError, type WorkerInit } from "./protocol";
import { ScorerSessions } from "./scorers/scorer-sessions";
import { checkScoreRequests, scoreLanes, type Goal } from "./scorers/score-lanes";
import { ModelSessions } from "./sessions";

function wire(err: unknown): WireError {
  if (err instanceof ServiceError) return { message: err.message, reason: err.reason, details: err.details };
  return { message: err instanceof Error ? err.message : String(err) };
}

let lifeline: Int32Array | null = null;

/**
 * Exits this thread if the runner set its lifeline. Called only from JavaScript between native calls:
 * leaving here is clean, where a terminate() landing inside an onnxruntime run aborts the process.
 */
function leaveIfAbandoned(): void {
  if (lifeline !== null && Atomics.load(lifeline, 0) !== 0) process.exit(WORKER_EXIT_LIFELINE);
}

/** Test-only faults, armed by the runner's injectFault(); they fire inside this thread on purpose. */
function fire(kind: FaultKind): void {
  switch (kind) {
    case "throw":
      throw new Error("injected fault: step threw");
    case "crash":
      process.exit(70); // in a worker thread this ends the thread only
    case "hang":
      // Block this thread without burning a core, as a stuck native call would, until the runner gives
      // up on it (the lifeline); then it leaves as such a call would on returning.
      Atomics.wait(lifeline!, 0, 0);
      leaveIfAbandoned();
  }
}

/** An encode that failed inside a run: the runner fails only the requests admitted with it. */
class EncodeFailed extends Error {
  constructor(readonly inner: unknown) {
    super("encode failed");
  }
}

/** Encodes `count` frames at most encodeConcurrencyMax per encoder run, which bounds its batch memory. */
async function encodeFrames(sessions: ModelSessions, frames: Uint8Array, count: number): Promise<Float32Array> {
  const frameBytes = sessions.geometry.height * sessions.geometry.width * 3;
  const out = new Float32Array(count * sessions.latentSize);
  for (let from = 0; from < count; from += limits.encodeConcurrencyMax) {
    const n = Math.min(limits.encodeConcurrencyMax, count - from);
    out.set(await sessions.encode(frames.subarray(from * frameBytes, (from + n) * frameBytes), n), from * sessions.latentSize);
    leaveIfAbandoned();
  }
  return out;
}

/** Frames move to the main thread without a copy: their buffers are transferred, not cloned. */
function transferOf(reply: Reply): ArrayBuffer[] {
  return reply.ok && "chunk" in reply ? [reply.frames.buffer, reply.costs?.buffer].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer) : [];
}

async function openAll(init: WorkerInit): Promise<{ sessions: ModelSessions; scorers: ScorerSessions }> {
  const opts = { modelDir: init.modelDir, entry: init.entry, executionProvider: init.executionProvider, intraOpThreads: init.intraOpThreads, spinning: init.spinning };
  const sessions = await ModelSessions.open(opts);
  try {
    await sessions.warm(init.warmLanes);
    const scorers = await ScorerSessions.open(opts, sessions.geometry, sessions.latentShape);
    await scorers.warm();
    return { sessions, scorers };
  } catch (err) {
    await sessions.release();
    throw err;
  }
}

async function main(init: WorkerInit): Promise<void> {
  const port = parentPort!;
  let sessions: ModelSessions;
  let scorers: ScorerSessions;
  const t0 = performance.now();
  lifeline = new Int32Array(init.lifeline);
  try {
    ({ sessions, scorers } = await openAll(init));
  } catch (err) {
    leaveIfAbandoned();
    port.postMessage({ status: "load-failed", error: wire(err) } satisfies Status);
    return;
  }
  leaveIfAbandoned(); // a load the runner gave up on (its timeout, a close) ends here
  const states = new Map<string, Float32Array>();
  const goals = new Map<string, Goal>();
  const noise = new NoiseCache(sessions.latentSize);
  const geo = { latentSize: sessions.latentSize, chunkSize: init.entry.chunkSize, actionDim: init.entry.actionDim };
  const scoreGeo = { ...geo, frameBytes: sessions.geometry.height * sessions.geometry.width * 3, encode: (frames: Uint8Array, count: number) => encodeFrames(sessions, frames, count) };
  let fault: { kind: FaultKind; remaining: number } | null = null;
  const interrupt = new Int32Array(init.interrupt);

  async function encodeItems(items: readonly EncodeItem[]): Promise<void> {
    const frameBytes = sessions.geometry.height * sessions.geometry.width * 3;
    const batch = new Uint8Array(items.length * frameBytes);
    items.forEach((item, i) => batch.set(item.frame, i * frameBytes));
    const encoded = await encodeFrames(sessions, batch, items.length);
    items.forEach((item, i) => states.set(item.stateKey, encoded.slice(i * geo.latentSize, (i + 1) * geo.latentSize)));
  }

  function armedFault(): void {
    if (fault !== null && fault.remaining-- === 0) {
      const kind = fault.kind;
      fault = null;
      fire(kind);
    }
  }

  /** One chunk for `lanes`: step, score, keep the next states. */
  async function stepChunk(lanes: readonly StepLane[], numSteps: number): Promise<{ frames: Uint8Array; costs: Float32Array | undefined }> {
    armedFault();
    checkScoreRequests(lanes, goals, scorers); // before the step, so a bad request costs no compute
    const out = await sessions.step(packStep(lanes, states, geo, noise), numSteps);
    leaveIfAbandoned();
    const costs = await scoreLanes(lanes, out, goals, scorers, scoreGeo);
    leaveIfAbandoned();
    scatterNextState(lanes, out.nextState, geo.latentSize, states);
    return { frames: out.frames, costs };
  }

  /** Chunk i of a run: each lane at its chunkIndex + i, reading its own state after the first chunk. */
  function runLanes(lanes: readonly StepLane[], i: number): StepLane[] {
    const perChunk = geo.chunkSize * geo.actionDim;
    return lanes.map((l) => {
      const chunkIndex = l.chunkIndex + i;
      const { score, ...rest } = l;
      const scored = score !== undefined && chunkIndex >= (score.fromChunk ?? 0);
      return { ...rest, inStateKey: i === 0 ? l.inStateKey : l.outStateKey, actions: l.actions.subarray(i * perChunk, (i + 1) * perChunk), chunkIndex, ...(scored ? { score } : {}) };
    });
  }

  async function run(req: Extract<Request, { op: "run" }>): Promise<Reply> {
    let s0 = performance.now();
    if (req.encode !== undefined) {
      try {
        await encodeItems(req.encode);
      } catch (err) {
        throw new EncodeFailed(err);
      }
    }
    let ran = 0;
    for (let i = 0; i < req.chunks; i++) {
      // Chunk 0 of a run without an encode always runs (it was planned at a boundary); after an encode,
      // an interrupt (a cancel or deadline meanwhile) gets the loop to look again before any chunk.
      if ((i > 0 || req.encode !== undefined) && Atomics.load(interrupt, 0) === req.id) break;
      const { frames, costs } = await stepChunk(runLanes(req.lanes, i), req.numSteps);
      const reply: Reply = { id: req.id, ok: true, chunk: i, frames, computeUs: Math.round((performance.now() - s0) * 1000), ...(costs !== undefined ? { costs } : {}) };
      port.postMessage(reply, transferOf(reply));
      ran++;
      s0 = performance.now();
    }
    return { id: req.id, ok: true, chunksRun: ran };
  }

  async function handle(req: Request): Promise<Reply> {
    switch (req.op) {
      case "encode":
        await encodeItems(req.items);
        return { id: req.id, ok: true };
      case "run":
        return run(req);
      case "setGoal":
        goals.set(req.goalKey, { count: req.count, frames: req.frames });
        return { id: req.id, ok: true };
      case "releaseGoal":
        for (const k of req.keys) goals.delete(k);
        return { id: req.id, ok: true };
      case "release":
        for (const k of req.keys) states.delete(k);
        return { id: req.id, ok: true };
      case "fault":
        fault = { kind: req.kind, remaining: req.atStep };
        return { id: req.id, ok: true };
      case "exit":
        leaveIfAbandoned();
        return { id: req.id, ok: true };
    }
  }

  let chain = Promise.resolve();
  port.on("message", (req: Request) => {
    leaveIfAbandoned(); // an "exit" op only wakes an idle thread to get here
    chain = chain.then(async () => {
      leaveIfAbandoned();
      let reply: Reply;
      try {
        reply = await handle(req);
      } catch (err) {
        reply = err instanceof EncodeFailed ? { id: req.id, ok: false, error: wire(err.inner), encodeFailed: true } : { id: req.id, ok: false, error: wire(err) };
      }
      port.postMessage(reply);
    });
  });
  port.postMessage({ status: "ready", latentSize: sessions.latentSize, warmMs: Math.round(performance.now() - t0), scorers: scorers.kinds() } satisfies Status);
}

const init = workerData as WorkerInit | undefined;
if (parentPort !== null && init?.kind === WORKER_KIND) void main(init);
