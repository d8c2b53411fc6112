// The TS client's planning against the real server on the tiny reference model: plan() beats the
// zero-action sequence, streamPlan() yields one iteration event per iteration then the plan,
// control() takes three decisions on a session, the unary session calls take one, and the closed-loop
// example clients/typescript/examples/mpc.ts runs as a child process, printing per-decision lines and
// writing a well-formed SVG plot. The goal is the frame a hidden held sequence reaches (as in
// plan.test.ts).
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { packActions, planRequest, rawFrame, unpackActions, type PlanSpec, type PlanStreamEvent } from "../../clients/typescript/src";
import { Pcg32 } from "../../src/planning/rng";
import { runChild, startHarness, testFrame, type Harness } from "./harness";

const TINY = "dream-reference-tiny";
const [H, W, D, T] = [48, 64, 384, 12];
const MASK: [number, number] = [0, 29];

function heldSequence(seed: number, scale: number): Float32Array {
  const r = new Pcg32(seed);
  const a = new Float32Array(T * D);
  const row = Array.from({ length: MASK[1] }, () => scale * r.normal());
  for (let t = 0; t < T; t++) for (let d = 0; d < MASK[1]; d++) a[t * D + d] = row[d]!;
  return a;
}

/** Just enough XML checking for a generated SVG: one <svg> root, every tag closed in order. */
function assertWellFormedSvg(text: string): void {
  const body = text.replace(/^<\?xml[^?]*\?>\s*/, "");
  assert.match(body, /^<svg\b[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  const stack: string[] = [];
  let roots = 0;
  for (const m of body.matchAll(/<(\/?)([A-Za-z][\w:-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (stack.length === 0 && !closing) roots++;
    if (closing) assert.equal(stack.pop(), name, `</${name}> closes what was opened`);
    else if (!selfClosing) stack.push(name!);
  }
  assert.deepEqual(stack, [], "every tag is closed");
  assert.equal(roots, 1, "one root element");
  assert.ok(!/&(?!#\d+;|amp;|lt;|gt;|quot;|apos;)/.test(body), "no bare ampersand");
}

describe("e2e: the TS client plans (plan, streamPlan, control, examples/mpc.ts; tiny model)", function () {
  this.timeout(600_000);
  let h: Harness;
  const start = rawFrame(testFrame(H, W), H, W);
  let spec: PlanSpec;

  before(async () => {
    h = await startHarness();
    const { response } = await h.client.predictBatch({ model: TINY, startFrame: start, candidates: [packActions(heldSequence(7, 0.8), T, D)], params: { numSteps: 1, seed: 3 } });
    const goal = rawFrame(response.rollouts[0]!.frames[T]!, H, W);
    spec = { model: TINY, startFrame: start, goal, actionSteps: T, planner: { cem: { samples: 16, iterations: 3, elites: 4, momentum: 0.1, stdMin: 0.02 } }, mask: [MASK], sampling: { initStd: 0.8, holdSteps: T }, params: { numSteps: 1, seed: 3 } };
  });
  after(async () => h?.stop());

  it("plan returns a best sequence with a lower goal cost than zero actions, and what it cost", async () => {
    const zero = (await h.client.plan(planRequest({ ...spec, planner: { rank: { candidates: [packActions(new Float32Array(T * D), T, D)] } } }))).response;
    const { response, headers } = await h.client.plan(planRequest(spec));
    assert.ok(response.bestCost < zero.bestCost, `best ${response.bestCost} vs zero-action ${zero.bestCost}`);
    const best = unpackActions(response.bestActions);
    assert.equal(best.length, T * D);
    assert.ok(best.every((v, i) => i % D < MASK[1] || v === 0), "unmasked dims stay at the nominal zeros");
    assert.equal(response.iterationsCompleted, 3);
    assert.equal(response.summary!.frames, 3 * 16 * (T + 1));
    assert.equal(response.summary!.cost!.micros, 3 * 16 * (T + 1) * 500);
    assert.ok(headers["x-dreamengine-request-id"], "the request id comes back in the headers");
  });

  it("streamPlan yields I iteration events, then the plan", async () => {
    const events: PlanStreamEvent[] = [];
    for await (const e of h.client.streamPlan(planRequest(spec))) events.push(e);
    assert.deepEqual(events.map((e) => e.kind), ["iteration", "iteration", "iteration", "plan"]);
    assert.deepEqual(events.slice(0, 3).map((e) => (e.kind === "iteration" ? e.iteration : -1)), [0, 1, 2]);
    const last = events[3]!;
    assert.ok(last.kind === "plan");
    assert.equal(last.plan.iterationsCompleted, 3);
    const bestSeen = Math.min(...events.flatMap((e) => (e.kind === "iteration" ? [e.bestCost] : [])));
    assert.ok(Math.abs(last.plan.bestCost - bestSeen) < 1e-6, `the plan's best ${last.plan.bestCost} is the best iteration's ${bestSeen}`);
  });

  it("control takes three decisions on a session and closes it", async () => {
    const control = h.client.control({ plan: planRequest({ ...spec, startFrame: undefined }), executeSteps: 4 });
    const session = await control.opened;
    assert.equal(session.executeSteps, 4);
    const before = await h.client.getBalance();
    let observation = start;
    const steps: number[] = [];
    for (let i = 0; i < 3; i++) {
      const d = await control.step(observation);
      steps.push(d.step);
      assert.deepEqual(d.actions!.shape, [4, D], "the next execute_steps steps");
      assert.equal(unpackActions(d.plan!.bestActions).length, T * D, "the whole horizon's plan too");
      const executed = unpackActions(d.actions);
      const next = await h.client.predictBatch({ model: TINY, startFrame: observation, candidates: [packActions(executed, 4, D)], params: { numSteps: 1, seed: 3 } });
      observation = rawFrame(next.response.rollouts[0]!.frames[4]!, H, W);
    }
    await control.close();
    assert.deepEqual(steps, [0, 1, 2]);
    const after = await h.client.getBalance();
    assert.ok(before.balanceMicros - after.balanceMicros >= 3 * 3 * 16 * (T + 1) * 500, "each step billed as a plan");
    assert.equal(after.heldMicros, 0);
  });

  it("createSession, stepSession and closeSession: one decision over unary calls, and what the session cost", async () => {
    const session = await h.client.createSession({ plan: planRequest({ ...spec, startFrame: undefined }), executeSteps: 4 });
    const { response } = await h.client.stepSession({ sessionId: session.sessionId, observation: start });
    assert.equal(response.step, 0);
    assert.deepEqual(response.actions!.shape, [4, D]);
    const closed = await h.client.closeSession(session.sessionId);
    assert.equal(closed.steps, 1);
    assert.equal(closed.cost!.micros, response.plan!.summary!.cost!.micros);
  });

  const runExample = async (dir: string, extra: string[]): Promise<{ stdout: string; plot: string }> => {
    const plot = path.join(dir, `cost-${extra.join("") || "default"}.svg`);
    const argv = ["--import", "tsx", path.join("clients", "typescript", "examples", "mpc.ts"), "--address", h.grpcAddress, "--api-key", h.apiKey, "--model", TINY, "--decisions", "2", "--threshold", "0", "--plot", plot, ...extra];
    const { code, stdout, stderr } = await runChild(process.execPath, argv, { ...process.env, DREAM_API_KEY: "" });
    assert.equal(code, 0, `mpc.ts exited ${code}:\n${stderr}\n${stdout}`);
    return { stdout, plot };
  };

  for (const [mode, extra] of [["control", []], ["plan", ["--mode", "plan"]]] as const) {
    it(`examples/mpc.ts runs the closed loop (${mode}${extra.length ? "" : ", the default"}): exit 0, a line per decision, a well-formed SVG plot`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-mpc-"));
      try {
        const { stdout, plot } = await runExample(dir, [...extra]);
        const lines = stdout.split("\n").filter((l) => /^decision \d+: latency [\d.]+ ms, plan cost \S+, world goal cost \S+ .*bytes received \d+, spent \$[\d.]+/.test(l));
        assert.equal(lines.length, 2, stdout);
        const summary = JSON.parse(stdout.split("\n").find((l) => l.startsWith("summary "))!.slice("summary ".length)) as { mode: string; decisions: number; bytes_received: number[]; planning_usd: number; final_cost: number; zero_action_cost: number };
        assert.equal(summary.mode, mode);
        if (mode === "control") assert.match(stdout, /mode control: session \S+, execute_steps 4/);
        assert.equal(summary.decisions, 2);
        assert.ok(summary.bytes_received.every((b) => b > 0 && b < 100_000), `a decision is kilobytes: ${summary.bytes_received}`);
        assert.ok(summary.planning_usd > 0);
        assert.ok(summary.final_cost < summary.zero_action_cost, `closed loop ends below the zero-action cost: ${summary.final_cost} vs ${summary.zero_action_cost}`);
        assertWellFormedSvg(fs.readFileSync(plot, "utf8"));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
