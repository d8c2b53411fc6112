// The suite's pure parts: reading a bench's stdout, and which benches --only / --skip leave.
import assert from "node:assert/strict";
import { SUITE_BENCHES, commandLine, selectBenches } from "../../bench/suite-benches";
import { parseBenchOutput } from "../../bench/suite-parse";

describe("bench/suite-parse", () => {
  it("keeps one-line rows, a pretty-printed document and a summary continued on indented lines", () => {
    const out = ['> dream-engine@0.1.0 bench:x', '{"a":1}', "{", '  "b": {"c": 2}', "}", "noise", "summary (npm run x):", "  line one", "  line two", "after"].join("\n");
    const parsed = parseBenchOutput(out);
    assert.deepEqual(parsed.rows, [{ a: 1 }, { b: { c: 2 } }]);
    assert.equal(parsed.summary, "summary (npm run x):\n  line one\n  line two");
    assert.deepEqual(parsed.unparsed, []);
  });

  it("reports a { line that never parses instead of dropping it", () => {
    const parsed = parseBenchOutput('{"a":\nsummary: x\n');
    assert.equal(parsed.rows.length, 0);
    assert.equal(parsed.unparsed.length, 1);
    assert.equal(parsed.summary, "summary: x");
  });
});

describe("bench/suite-benches", () => {
  const names = (bs: readonly { name: string }[]) => bs.map((b) => b.name);

  it("runs every bench but the opt-in ones by default, in suite order", () => {
    assert.deepEqual(names(selectBenches(undefined, [])), names(SUITE_BENCHES.filter((b) => !b.optIn)));
    assert.ok(names(SUITE_BENCHES).includes("overhead-480p"));
    assert.ok(!names(selectBenches(undefined, [])).includes("overhead-480p"));
  });

  it("--only names benches, opt-in ones included; --skip drops them; unknown names are errors", () => {
    assert.deepEqual(names(selectBenches(["mpc", "overhead-480p"], [])), ["overhead-480p", "mpc"]);
    assert.deepEqual(names(selectBenches(undefined, ["quality", "saturation"])).includes("quality"), false);
    assert.throws(() => selectBenches(["nope"], []), /no bench named nope/);
    assert.throws(() => selectBenches(undefined, ["nope"]), /no bench named nope/);
  });

  it("records the command as typed", () => {
    assert.equal(commandLine({ name: "x", script: "bench:x", args: ["--quick"], budgetS: 1, timeoutS: 1 }), "npm run bench:x -- --quick");
    assert.equal(commandLine({ name: "x", script: "bench:x", args: [], budgetS: 1, timeoutS: 1 }), "npm run bench:x");
  });
});
