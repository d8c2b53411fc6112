// src/wire/retryable-reasons.ts is generated from errorTable (src/wire may not import core, and the TS
// client ships src/wire): this renders it afresh and requires the committed copy to match, so a reason
// added or made retryable on the server cannot leave the client's retry rules behind.
// DREAM_WRITE_GENERATED=1 rewrites the file instead of failing.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { errorTable } from "../../src/core/errors";

const FILE = path.resolve(__dirname, "..", "..", "src", "wire", "retryable-reasons.ts");

function render(): string {
  const reasons = Object.keys(errorTable) as Array<keyof typeof errorTable>;
  const list = (names: string[]) => names.map((n) => `  "${n}",\n`).join("");
  return `// GENERATED from src/core/errors.ts's errorTable by test/clients/retryable-reasons.test.ts
// (run it with DREAM_WRITE_GENERATED=1 to rewrite); do not edit by hand. The TS client decides what it
// may retry from this, and src/wire may not import core, hence a committed copy checked fresh.

/** Every ErrorInfo.reason the server can send (docs/ERRORS.md). */
export const ERROR_REASONS = [
${list(reasons)}] as const;

/** The reasons for which the same request may be sent again unchanged. */
export const RETRYABLE_REASONS: ReadonlySet<string> = new Set([
${list(reasons.filter((r) => errorTable[r].retryable))}]);
`;
}

describe("TS client: generated retryable reasons", () => {
  it("src/wire/retryable-reasons.ts matches errorTable", () => {
    const want = render();
    if (process.env.DREAM_WRITE_GENERATED === "1") fs.writeFileSync(FILE, want);
    assert.equal(fs.readFileSync(FILE, "utf8"), want, "stale: rerun this test with DREAM_WRITE_GENERATED=1 and commit the file");
  });
});
