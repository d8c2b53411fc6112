// The Python SDK's planning (model.plan / rank / stream_plan over REST), control sessions and the
// closed-loop MPC example against the real server on the tiny model: runs test/e2e/sdk_plan_e2e.py and
// clients/python/examples/mpc.py and checks what they print (and the server's ledger) here.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runChild, startHarness, type ChildResult, type Harness } from "./harness";

const run = (args: string[], env: NodeJS.ProcessEnv): Promise<ChildResult> => runChild("python3", args, env);

const lastJson = (stdout: string): Record<string, any> => JSON.parse(stdout.trim().split("\n").pop()!);

describe("e2e: Python SDK planning, sessions and the MPC example against the real server", function () {
  this.timeout(300_000);
  let h: Harness;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    h = await startHarness({}, 10);
    env = { ...process.env, PYTHONDONTWRITEBYTECODE: "1", DREAM_BASE_URL: h.httpBase, DREAM_API_KEY: h.apiKey, DREAM_ENGINE_API_KEY: "" };
  });
  after(async () => h?.stop());

  it("rank finds the hidden sequence, CEM reduces the cost, stream_plan streams iterations then the plan, validation before the network, server field errors", async () => {
    const { code, stdout, stderr } = await run([path.join("test", "e2e", "sdk_plan_e2e.py"), "plan"], env);
    assert.equal(code, 0, `sdk_plan_e2e.py plan failed (exit ${code}):\n${stderr}\n${stdout}`);
    const facts = lastJson(stdout);
    assert.equal(facts.rank.best, 3);
    assert.equal(facts.rank.frames, 8 * 13);
    assert.equal(facts.rank.cost_micros, 8 * 13 * 500);
    assert.ok(facts.cem.best_cost < 0.25 * facts.cem.zero_cost, JSON.stringify(facts.cem));
    assert.deepEqual(facts.stream.events, ["iteration", "iteration", "iteration", "plan"]);
    assert.equal(facts.client_validation, 7);
    assert.deepEqual(facts.server_validation, { field: "cem.elites", status: 400, reason: "INVALID_ARGUMENT" });
    // The ledger agrees with the SDK: the rank's request id carries its charge.
    const tx = await h.app.billing.transactions(h.customerId, 50);
    assert.ok(tx.some((t) => t.requestId === facts.rank.request_id && t.amountMicros === -facts.rank.cost_micros), "the plan's request id is the ledger's");
    const balance = await h.app.billing.balance(h.customerId);
    assert.equal(facts.balance_micros, balance.balanceMicros);
  });

  it("sessions: create, step, step, close reports the steps and their cost; a closed session is NOT_FOUND", async () => {
    const { code, stdout, stderr } = await run([path.join("test", "e2e", "sdk_plan_e2e.py"), "sessions"], env);
    assert.equal(code, 0, `sdk_plan_e2e.py sessions failed (exit ${code}):\n${stderr}\n${stdout}`);
    const facts = lastJson(stdout);
    assert.equal(facts.sessions.steps, 2);
    assert.equal(facts.sessions.cost_micros, facts.sessions.step_costs[0] + facts.sessions.step_costs[1]);
    assert.ok(facts.sessions.step_costs.every((c: number) => c > 0), "each step is billed as its own plan");
    assert.deepEqual(facts.sessions.after_close, [404, "NOT_FOUND"]);
    assert.equal(facts.sessions.bad_template_field, "plan.cem.elites");
  });

  it("examples/mpc.py --decisions 2 closes the loop, prints each decision and writes an SVG plot", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-mpc-"));
    const plot = path.join(dir, "cost.svg");
    const { code, stdout, stderr } = await run([path.join("clients", "python", "examples", "mpc.py"), "--decisions", "2", "--model", "dream-reference-tiny", "--plot", plot], env);
    assert.equal(code, 0, `mpc.py failed (exit ${code}):\n${stderr}\n${stdout}`);
    const decisions = stdout.split("\n").filter((l) => /^decision \d+:/.test(l));
    assert.equal(decisions.length, 2, stdout);
    for (const line of decisions) assert.match(line, /latency \d+(\.\d+)? ms.*cost \S+.*received \d+ B.*spent \$\d/, line);
    const svg = fs.readFileSync(plot, "utf8");
    const check = await run(["-c", "import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); print(r.tag)", plot], env);
    assert.equal(check.code, 0, check.stderr);
    assert.equal(check.stdout.trim(), "{http://www.w3.org/2000/svg}svg");
    assert.match(svg, /<polyline /);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
