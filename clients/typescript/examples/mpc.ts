// Visual model-predictive control against Dream Engine, closed loop, with a reference model as the
// simulated world:
//
//   goal      = the frame a hidden held action sequence (one horizon long) reaches from the start
//               frame (PredictBatch, raw)
//   decision  = a CEM plan toward the goal from the current observation: a Control stream step
//               (--mode control, the default; falls back to unary Plan when the server does not serve
//               Sessions), or a unary Planning.Plan warm-started from the last plan shifted by the
//               executed steps (--mode plan)
//   execute   = the decision's first --execute steps (default chunk / 3), "executed" by predicting the
//               next observation with those actions (--world history, the default: the whole
//               executed history from the start frame; --world step: from the current observation)
//
// until the world's goal cost falls under --threshold (default 0.2) x the zero-action cost, or
// --decisions. Prints per decision: latency, the plan's and the world's goal cost, bytes received
// (the encoded size of the response message) and money spent; writes a cost-per-decision plot (SVG)
// to --plot.
//
// (A world stepped frame by frame drifts: re-encoding a predicted frame blurs it again, as the reference
// models keep the start frame at quarter resolution. With --num-steps 1 the denoiser's grain also
// jumps the world's cost once its history crosses a chunk boundary; the default 4 keeps it faint.)
//
//   node --import tsx clients/typescript/examples/mpc.ts --address 127.0.0.1:50051 --api-key dre_... \
//     --model dream-reference-tiny --decisions 3 --plot out.svg
import fs from "node:fs";
import { parseArgs } from "node:util";
import { ControlResponse, DreamClient, DreamError, FrameEncoding, packActions, planRequest, PlanResponse, rawFrame, unpackActions, type ControlStream, type Frame, type PlanSpec } from "../src";

const { values: args } = parseArgs({
  options: {
    address: { type: "string", default: "127.0.0.1:50051" },
    "api-key": { type: "string", default: process.env.DREAM_API_KEY ?? "" },
    model: { type: "string", default: "dream-reference-tiny" },
    mode: { type: "string", default: "control" },
    decisions: { type: "string", default: "5" },
    threshold: { type: "string", default: "0.2" },
    samples: { type: "string", default: "16" },
    iterations: { type: "string", default: "3" },
    "num-steps": { type: "string", default: "4" }, // 1 is faster, but its grain shows at every chunk boundary of the world
    seed: { type: "string", default: "3" },
    horizon: { type: "string", default: "0" },
    execute: { type: "string", default: "0" },
    world: { type: "string", default: "history" },
    plot: { type: "string" },
  },
});

const int = (name: keyof typeof args): number => {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a non-negative integer, got ${args[name]}`);
  return v;
};
if (args.mode !== "plan" && args.mode !== "control") throw new Error(`--mode must be plan or control, got ${args.mode}`);
if (args.world !== "history" && args.world !== "step") throw new Error(`--world must be history or step, got ${args.world}`);

interface Decision {
  index: number;
  latencyMs: number;
  cost: number;
  bytes: number;
  micros: number;
  /** The world's goal cost after executing this decision (--world history). */
  worldCost?: number;
}

/** A deterministic start frame with structure: gradients and a bright square. */
function startImage(h: number, w: number): Uint8Array {
  const f = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      const square = Math.abs(y - h / 2) < h / 8 && Math.abs(x - w / 2) < w / 8;
      f[i] = square ? 240 : Math.floor((255 * x) / w);
      f[i + 1] = square ? 220 : Math.floor((255 * y) / h);
      f[i + 2] = square ? 30 : 128;
    }
  }
  return f;
}

/** A seeded normal sampler (mulberry32 + Box-Muller): the hidden sequence is the same every run. */
function normals(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** Shifts a plan by the `executed` steps it ran, repeating its last step: the next plan's warm start. */
function shifted(actions: Float32Array, steps: number, dim: number, executed: number): Float32Array {
  const out = new Float32Array(steps * dim);
  for (let t = 0; t < steps; t++) out.set(actions.subarray(Math.min(t + executed, steps - 1) * dim, (Math.min(t + executed, steps - 1) + 1) * dim), t * dim);
  return out;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A small line plot of goal cost per decision, as a standalone SVG document. */
function costPlot(decisions: Decision[], zeroCost: number, title: string): string {
  const [width, height, left, right, top, bottom] = [560, 320, 70, 20, 40, 50];
  const costs = [zeroCost, ...decisions.map((d) => d.worldCost ?? d.cost)];
  const yMax = Math.max(...costs) * 1.1 || 1;
  const x = (i: number) => left + (i / Math.max(1, costs.length - 1)) * (width - left - right);
  const y = (c: number) => top + (1 - c / yMax) * (height - top - bottom);
  const points = costs.map((c, i) => `${x(i).toFixed(1)},${y(c).toFixed(1)}`).join(" ");
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * yMax);
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`,
    `<line x1="${left}" y1="${height - bottom}" x2="${width - right}" y2="${height - bottom}" stroke="black"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${height - bottom}" stroke="black"/>`,
    ...ticks.map((c) => `<text x="${left - 6}" y="${(y(c) + 4).toFixed(1)}" text-anchor="end">${c.toPrecision(3)}</text>`),
    ...costs.map((_, i) => `<text x="${x(i).toFixed(1)}" y="${height - bottom + 16}" text-anchor="middle">${i === 0 ? "start" : i}</text>`),
    `<text x="${width / 2}" y="${height - 10}" text-anchor="middle">decision</text>`,
    `<text x="16" y="${height / 2}" text-anchor="middle" transform="rotate(-90 16 ${height / 2})">goal cost</text>`,
    `<polyline points="${points}" fill="none" stroke="#1f77b4" stroke-width="2"/>`,
    ...costs.map((c, i) => `<circle cx="${x(i).toFixed(1)}" cy="${y(c).toFixed(1)}" r="3" fill="${i === 0 ? "gray" : "#1f77b4"}"><title>${escapeXml(i === 0 ? `zero actions: ${c}` : `decision ${i}: ${c}`)}</title></circle>`),
    `</svg>`,
    "",
  ].join("\n");
}

async function main(): Promise<void> {
  const client = new DreamClient({ address: args.address!, apiKey: args["api-key"] || undefined });
  try {
    const spec = await client.getModel(args.model!);
    const [H, W] = spec.arch!.resolution as [number, number];
    const D = spec.arch!.actionDim;
    const chunk = spec.arch!.chunkSize;
    const T = int("horizon") || chunk; // the planning horizon, also the hidden sequence's length
    const execute = int("execute") || Math.max(1, Math.floor(chunk / 3)); // steps run per decision
    const mask: [number, number] = [0, Math.min(29, D)]; // GR-1's slot of the unified action vector
    const params = { numSteps: int("num-steps"), seed: int("seed") };

    // The world: a start frame and a goal reached by a hidden held sequence the planner never sees.
    const start = rawFrame(startImage(H, W), H, W);
    const draw = normals(7);
    const row = Array.from({ length: mask[1] }, () => 0.8 * draw());
    const hidden = new Float32Array(T * D);
    for (let t = 0; t < T; t++) for (let d = 0; d < mask[1]; d++) hidden[t * D + d] = row[d]!;
    const goalRollout = await client.predictBatch({ model: args.model!, startFrame: start, candidates: [packActions(hidden, T, D)], params, output: { encoding: FrameEncoding.RAW_RGB8, jpegQuality: 0 } });
    const goal = rawFrame(goalRollout.response.rollouts[0]!.frames[T]!, H, W);
    let worldMicros = goalRollout.response.summary?.cost?.micros ?? 0;

    const template: PlanSpec = {
      model: args.model!,
      goal,
      actionSteps: T,
      planner: { cem: { samples: int("samples"), iterations: int("iterations"), elites: Math.max(2, Math.round(int("samples") / 4)), momentum: 0.1, stdMin: 0.02 } },
      mask: [mask],
      sampling: { initStd: 0.8, holdSteps: T },
      params,
    };
    const zero = (await client.plan(planRequest({ ...template, startFrame: start, planner: { rank: { candidates: [packActions(new Float32Array(T * D), T, D)] } } }))).response;
    const zeroCost = zero.bestCost;
    const threshold = Number(args.threshold) * zeroCost;
    console.log(`model ${args.model} ${H}x${W}, action_dim ${D}, horizon ${T} (executes ${execute} per decision); zero-action goal cost ${zeroCost.toPrecision(4)}, threshold ${threshold.toPrecision(4)}`);

    let mode = args.mode as "plan" | "control";
    let control: ControlStream | undefined;
    if (mode === "control") {
      control = client.control({ plan: planRequest(template), executeSteps: execute });
      try {
        const session = await control.opened;
        console.log(`mode control: session ${session.sessionId}, execute_steps ${session.executeSteps}`);
      } catch (err) {
        if (!(err instanceof DreamError) || err.reason !== "UNIMPLEMENTED") throw err;
        console.log("mode plan: this server does not serve Sessions.Control (UNIMPLEMENTED), planning with unary Plan");
        control = undefined;
        mode = "plan";
      }
    } else console.log("mode plan: unary Planning.Plan, warm-started from the last plan");

    const decisions: Decision[] = [];
    let observation: Frame = start;
    const history: Float32Array[] = []; // every action executed so far, for --world history
    let warm: Float32Array | undefined;
    for (let i = 1; i <= int("decisions"); i++) {
      const t0 = performance.now();
      let plan: PlanResponse;
      let chosen: Float32Array;
      let bytes: number;
      if (control) {
        const step = await control.step(observation);
        bytes = ControlResponse.encode({ message: { $case: "step", value: step } }).finish().length;
        plan = step.plan!;
        chosen = unpackActions(step.actions);
      } else {
        const sampling = { ...template.sampling, warmStart: warm ? packActions(warm, T, D) : undefined };
        plan = (await client.plan(planRequest({ ...template, startFrame: observation, sampling }))).response;
        bytes = PlanResponse.encode(plan).finish().length;
        const best = unpackActions(plan.bestActions);
        chosen = best.slice(0, execute * D);
        warm = shifted(best, T, D, execute);
      }
      const latencyMs = performance.now() - t0;
      const d: Decision = { index: i, latencyMs, cost: plan.bestCost, bytes, micros: plan.summary?.cost?.micros ?? 0 };
      decisions.push(d);
      const spent = decisions.reduce((a, x) => a + x.micros, 0);
      // Execute the first steps in the simulated world: the next observation is the model's frame
      // after them. --world step predicts it from the current observation; --world history (the
      // default) rolls the whole executed history out from the start frame, because re-encoding a
      // predicted frame blurs it again each time (the reference models keep the start frame at
      // quarter resolution), so a world stepped frame by frame drifts away from any goal.
      history.push(chosen);
      const executed = args.world === "step" ? chosen : concat(history);
      const steps = executed.length / D;
      const from = args.world === "step" ? observation : start;
      const next = await client.predictBatch({ model: args.model!, startFrame: from, candidates: [packActions(executed, steps, D)], params, output: { encoding: FrameEncoding.RAW_RGB8, jpegQuality: 0 } });
      observation = rawFrame(next.response.rollouts[0]!.frames[steps]!, H, W);
      worldMicros += next.response.summary?.cost?.micros ?? 0;
      // The world's own goal cost after the execution: the executed history scored from the start
      // (a rank of that one sequence), so it is comparable with the zero-action cost.
      if (args.world === "history") {
        const scored = (await client.plan(planRequest({ ...template, startFrame: start, planner: { rank: { candidates: [packActions(concat(history), steps, D)] } } }))).response;
        d.worldCost = scored.bestCost;
        worldMicros += scored.summary?.cost?.micros ?? 0;
      }
      console.log(
        `decision ${i}: latency ${latencyMs.toFixed(1)} ms, plan cost ${d.cost.toPrecision(4)}, world goal cost ${d.worldCost?.toPrecision(4) ?? "n/a"} (${((100 * (d.worldCost ?? d.cost)) / zeroCost).toFixed(1)}% of zero-action), ` +
          `${plan.iterationsCompleted} iterations, bytes received ${bytes}, spent $${(d.micros / 1e6).toFixed(4)} (total $${(spent / 1e6).toFixed(4)})`,
      );
      if ((d.worldCost ?? d.cost) < threshold) {
        console.log(`goal cost under the threshold after ${i} decisions`);
        break;
      }
    }
    await control?.close();

    const planMicros = decisions.reduce((a, x) => a + x.micros, 0) + (zero.summary?.cost?.micros ?? 0);
    const summary = {
      mode,
      decisions: decisions.length,
      final_cost: decisions.at(-1)?.worldCost ?? decisions.at(-1)?.cost,
      plan_costs: decisions.map((d) => d.cost),
      world_costs: decisions.map((d) => d.worldCost ?? null),
      zero_action_cost: zeroCost,
      latency_ms: decisions.map((d) => Math.round(d.latencyMs * 10) / 10),
      bytes_received: decisions.map((d) => d.bytes),
      planning_usd: planMicros / 1e6,
      world_simulation_usd: worldMicros / 1e6,
    };
    console.log(`summary ${JSON.stringify(summary)}`);
    if (args.plot) {
      fs.writeFileSync(args.plot, costPlot(decisions, zeroCost, `MPC on ${args.model} (${mode}): goal cost per decision`));
      console.log(`plot written to ${args.plot}`);
    }
  } finally {
    client.close();
  }
}

main().catch((err) => {
  console.error(err instanceof DreamError ? `${err.reason}: ${err.message}` : err);
  process.exit(1);
});
