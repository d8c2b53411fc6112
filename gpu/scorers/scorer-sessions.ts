// The scorer sessions of one model, created beside its ModelSessions (on the worker thread): built-ins
// from bytes made in memory, custom scorers from files under the model directory. Each is checked
// against the scorer contract and warmed once at load.
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { assert } from "../../src/core/assert";
import type { CatalogEntry, CatalogScorer } from "../../src/config/catalog";
import type { ModelGeometry, ScorerKind } from "../../src/scheduler/executor";
import { parseExecutionProvider } from "../ep";
import { createSession } from "../sessions";
import { builtinScorerBytes } from "./builtin";
import { checkScorer, type ScorerShape } from "./contract";

export interface Scorer extends ScorerShape {
  name: string;
  session: ort.InferenceSession;
}

export interface ScorerOptions {
  modelDir: string;
  entry: CatalogEntry;
  executionProvider?: string;
  intraOpThreads?: number;
  spinning?: boolean;
}

async function openOne(name: string, spec: CatalogScorer, opts: ScorerOptions, geo: ModelGeometry, latentShape: readonly number[]): Promise<Scorer> {
  const ep = parseExecutionProvider(opts.executionProvider);
  const file = "file" in spec ? join(opts.modelDir, spec.file) : `built-in scorer ${JSON.stringify(name)} (${spec.builtin})`;
  const source = "file" in spec ? file : builtinScorerBytes(spec, geo, latentShape);
  const session = await createSession(ep, file, opts.intraOpThreads, source, opts.spinning);
  try {
    return { name, session, ...checkScorer(file, session, geo, latentShape) };
  } catch (err) {
    await session.release();
    throw err;
  }
}

export class ScorerSessions {
  private constructor(
    private readonly geo: ModelGeometry,
    private readonly latentShape: readonly number[],
    private readonly byName: ReadonlyMap<string, Scorer>,
  ) {}

  /** Opens every scorer the entry names; on any failure the ones already open are released. */
  static async open(opts: ScorerOptions, geo: ModelGeometry, latentShape: readonly number[]): Promise<ScorerSessions> {
    const opened = new Map<string, Scorer>();
    try {
      for (const [name, spec] of Object.entries(opts.entry.scorers ?? {})) opened.set(name, await openOne(name, spec, opts, geo, latentShape));
    } catch (err) {
      await Promise.all([...opened.values()].map((s) => s.session.release()));
      throw err;
    }
    return new ScorerSessions(geo, latentShape, opened);
  }

  /** name → kind, for the runner (it validates score requests before they reach the worker). */
  kinds(): Record<string, ScorerKind> {
    return Object.fromEntries([...this.byName].map(([n, s]) => [n, s.kind]));
  }

  get(name: string): Scorer | undefined {
    return this.byName.get(name);
  }

  /** frames uint8 [n, f, H, W, 3] and goal uint8 [n, H, W, 3] → cost float32 [n, f]. */
  async runFrames(s: Scorer, frames: Uint8Array, goal: Uint8Array, n: number, f: number): Promise<Float32Array> {
    const { height: h, width: w } = this.geo;
    assert(frames.length === n * f * h * w * 3 && goal.length === n * h * w * 3, `scorer ${s.name}: input sizes do not match ${n} lanes of ${f} frames`);
    const out = await s.session.run({ frames: new ort.Tensor("uint8", frames, [n, f, h, w, 3]), goal: new ort.Tensor("uint8", goal, [n, h, w, 3]) });
    const cost = out.cost!.data as Float32Array;
    assert(cost.length === n * f, `scorer ${s.name} returned ${cost.length} costs, expected ${n}x${f}`);
    return cost;
  }

  /** next_state and goal_state float32 [n, ...latent] → cost float32 [n]. */
  async runLatent(s: Scorer, state: Float32Array, goal: Float32Array, n: number): Promise<Float32Array> {
    const dims = [n, ...this.latentShape];
    const out = await s.session.run({ next_state: new ort.Tensor("float32", state, dims), goal_state: new ort.Tensor("float32", goal, dims) });
    const cost = out.cost!.data as Float32Array;
    assert(cost.length === n, `scorer ${s.name} returned ${cost.length} costs, expected ${n}`);
    return cost;
  }

  /** One run of each scorer on zeros, so that the first scored step pays no session warm-up. */
  async warm(): Promise<void> {
    const { height: h, width: w, chunkSize } = this.geo;
    const latentSize = this.latentShape.reduce((a, b) => a * b, 1);
    for (const s of this.byName.values()) {
      if (s.kind === "latent") await this.runLatent(s, new Float32Array(latentSize), new Float32Array(latentSize), 1);
      else await this.runFrames(s, new Uint8Array(chunkSize * h * w * 3), new Uint8Array(h * w * 3), 1, chunkSize);
    }
  }

  async release(): Promise<void> {
    await Promise.all([...this.byName.values()].map((s) => s.session.release()));
  }
}
