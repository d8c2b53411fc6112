// The last line of defence in the logger: anything shaped like an API key or a Stripe secret is
// scrubbed wherever it sits in a line (issue 10, item 8: a key right after a word character, as in the
// path "/v1/models/%ZZdre_<key>", went to the error log whole).
import { strict as assert } from "node:assert";
import { scrubSecrets } from "../../src/observability/logger";

const KEY = `dre_${"abcdefghijklmnopqrstuvwxyz234567".repeat(2).slice(0, 43)}`;
const STRIPE = "sk_test_51HxYzAbCdEfGhIjKlMnOpQrStUv";
const RESTRICTED = "rk_live_51HxYzAbCdEfGhIjKlMnOpQrStUv";
const WEBHOOK = "whsec_AbCd+EfGh/IjKl=MnOp0123456789";

describe("observability: scrubSecrets", () => {
  const contexts: Array<[string, (s: string) => string]> = [
    ["alone", (s) => s],
    ["after spaces and quotes", (s) => `lookup of "${s}" failed`],
    ["right after a word character (a path segment after %ZZ)", (s) => `bad percent-encoding in path segment "%ZZ${s}"`],
    ["after letters and digits", (s) => `abc123${s}`],
    ["inside a URL-encoded string", (s) => `GET /v1/x?authorization=Bearer%20${s}&y=1`],
    ["with a URL-encoded underscore", (s) => `q=${s.replace(/_/g, "%5F")}`],
    ["followed by word characters", (s) => `${s}trailing_word`],
    ["inside JSON", (s) => JSON.stringify({ msg: `x${s}y` })],
  ];
  for (const [name, secret] of [["API key", KEY], ["Stripe secret key", STRIPE], ["Stripe restricted key", RESTRICTED], ["webhook secret", WEBHOOK]] as const) {
    for (const [where, place] of contexts) {
      it(`scrubs a ${name} ${where}`, () => {
        const line = place(secret);
        const out = scrubSecrets(line);
        assert.ok(out.includes("[redacted]"), out);
        // Neither the secret nor its body (what follows the prefix) survives, in either encoding.
        const body = secret.slice(secret.lastIndexOf("_") + 1, secret.lastIndexOf("_") + 21);
        assert.ok(!out.includes(body), `${out} still holds ${body}`);
      });
    }
  }

  it("scrubs a truncated API key (an echo cut inside it) but leaves ordinary text alone", () => {
    assert.ok(!scrubSecrets(`segment "${KEY.slice(0, 24)}…(200 chars)"`).includes(KEY.slice(4, 24)));
    for (const ordinary of ["model dream-reference-tiny not found", "missing API key: send Authorization: Bearer dre_…", "task_test_run ok", "request 5fb0bcb5-d42a-42e8-9312-b5ab70aa2e00"]) {
      assert.equal(scrubSecrets(ordinary), ordinary);
    }
  });
});
