// Regenerates docs/openapi.json from the protos: `npx tsx src/transport/rest/write-openapi.ts`.
// test/rest/webhook-openapi.test.ts fails when the committed copy is stale.
import * as fs from "node:fs";
import * as path from "node:path";
import { loadApi, repoProtoDir } from "./descriptors";
import { buildOpenApi } from "./openapi";
import { OPENAPI_PATH, STRIPE_WEBHOOK_PATH } from "./server";

const out = path.join(path.dirname(repoProtoDir()), "docs", "openapi.json");
const doc = buildOpenApi(loadApi(), { stripeWebhook: true, webhookPath: STRIPE_WEBHOOK_PATH, openapiPath: OPENAPI_PATH });
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify(doc, null, 2) + "\n");
console.log(`wrote ${out}`);
