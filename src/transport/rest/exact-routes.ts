// The exact-path routes the proto does not describe: the OpenAPI document, the Stripe webhook,
// Prometheus /metrics and whatever raw routes the composition root adds. They are matched before the
// transcoded routes and carry no API key (each bounds its own reads).

import type { RawRoute, RestExtras } from "./options";
import type { BodyReader } from "./read-request";
import { serveStripeWebhook } from "./webhook";

export const OPENAPI_PATH = "/v1/openapi.json";
export const METRICS_PATH = "/metrics";
export const STRIPE_WEBHOOK_PATH = "/v1/billing/stripe/webhook";

export type RawHandler = RawRoute["handle"];
/** path → upper-case method → handler. */
export type ExactRoutes = Map<string, Map<string, RawHandler>>;

export function exactRoutes(extras: RestExtras, openapi: Record<string, unknown>, reader: BodyReader): ExactRoutes {
  const exact: ExactRoutes = new Map();
  const add = (method: string, path: string, handle: RawHandler): void => {
    if (!exact.has(path)) exact.set(path, new Map());
    exact.get(path)!.set(method.toUpperCase(), handle);
  };
  const openapiBytes = Buffer.from(JSON.stringify(openapi));
  add("GET", OPENAPI_PATH, async (_req, res) => {
    res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": String(openapiBytes.length), "cache-control": "public, max-age=300" });
    res.end(openapiBytes);
  });
  add("POST", STRIPE_WEBHOOK_PATH, (req, res, ctx) => serveStripeWebhook(extras.stripeWebhook, reader, req, res, ctx));
  const metrics = extras.metrics;
  if (metrics !== undefined)
    add("GET", METRICS_PATH, async (_req, res) => {
      const text = Buffer.from(await metrics());
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8", "content-length": String(text.length), "cache-control": "no-store" });
      res.end(text);
    });
  for (const r of extras.rawRoutes ?? []) add(r.method, r.path, r.handle);
  return exact;
}
