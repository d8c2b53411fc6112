// A local stand-in for api.stripe.com, enough for the real `stripe` package to create and retrieve
// Checkout Sessions. Tests point the client at it with {host: "127.0.0.1", port, protocol: "http"}.
// It parses the form-encoded bodies stripe-node sends (line_items[0][price_data][unit_amount]=500),
// records every request for assertions, and answers with realistic session objects and error shapes.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** The form body decoded into nested objects/arrays; leaf values stay strings, as on the wire. */
  form: FormValue;
}

export type FormValue = string | FormValue[] | { [key: string]: FormValue };

export interface FakeCheckoutSession {
  id: string;
  object: "checkout.session";
  amount_subtotal: number;
  amount_total: number;
  client_reference_id: string | null;
  created: number;
  currency: string;
  customer: string | null;
  expires_at: number;
  livemode: false;
  metadata: Record<string, string>;
  mode: string;
  payment_intent: string | null;
  payment_status: "paid" | "unpaid" | "no_payment_required";
  status: "open" | "complete" | "expired";
  success_url: string | null;
  cancel_url: string | null;
  url: string | null;
}

export interface FakeStripeServer {
  port: number;
  /** Options to spread into `new Stripe(key, {...})`. */
  clientOptions: { host: string; port: number; protocol: "http" };
  requests: RecordedRequest[];
  sessions: Map<string, FakeCheckoutSession>;
  /** What Stripe does when the payer finishes Checkout: the session becomes complete (and paid, unless told otherwise). */
  completeSession(sessionId: string, paymentStatus?: "paid" | "unpaid"): FakeCheckoutSession;
  /** The next request answers with this status and Stripe-shaped error instead of succeeding. */
  failNext(status: number, error?: { type?: string; message?: string; code?: string }): void;
  close(): Promise<void>;
}

const randomId = (prefix: string): string => `${prefix}${randomBytes(24).toString("base64url").replace(/[-_]/g, "x")}`;

/** Decodes stripe-node's bracket notation: a[b][0][c]=v → {a: {b: [{c: "v"}]}}. */
export function parseStripeForm(body: string): { [key: string]: FormValue } {
  const root: { [key: string]: FormValue } = {};
  for (const [fullKey, value] of new URLSearchParams(body)) {
    const path = fullKey.replace(/\]/g, "").split("[");
    let node: any = root;
    for (let i = 0; i < path.length; i++) {
      const segment = path[i];
      const last = i === path.length - 1;
      const slot = Array.isArray(node) ? Number(segment) : segment;
      if (last) {
        node[slot] = value;
      } else {
        if (node[slot] === undefined) node[slot] = /^\d+$/.test(path[i + 1]) ? [] : {};
        node = node[slot];
      }
    }
  }
  return root;
}

function stripeError(res: ServerResponse, status: number, error: { type?: string; message?: string; code?: string; param?: string }): void {
  res.writeHead(status, { "content-type": "application/json", "request-id": randomId("req_") });
  res.end(JSON.stringify({ error: { type: error.type ?? "api_error", message: error.message ?? "fake failure", code: error.code, param: error.param } }));
}

function json(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { "content-type": "application/json", "request-id": randomId("req_") });
  res.end(JSON.stringify(body));
}

function createSession(form: { [key: string]: FormValue }, sessions: Map<string, FakeCheckoutSession>, res: ServerResponse): void {
  const missing = ["mode", "line_items", "success_url"].find((k) => form[k] === undefined);
  if (missing !== undefined) {
    stripeError(res, 400, { type: "invalid_request_error", message: `Missing required param: ${missing}.`, param: missing });
    return;
  }
  const items = form.line_items as { price_data?: { currency?: string; unit_amount?: string }; quantity?: string }[];
  let total = 0;
  let currency: string | undefined;
  for (const item of items) {
    const unit = Number(item.price_data?.unit_amount);
    const quantity = Number(item.quantity ?? "1");
    if (!Number.isSafeInteger(unit) || unit < 0 || !Number.isSafeInteger(quantity) || quantity < 1) {
      stripeError(res, 400, { type: "invalid_request_error", message: "Invalid integer: unit_amount", param: "line_items[0][price_data][unit_amount]" });
      return;
    }
    total += unit * quantity;
    currency = item.price_data?.currency;
  }
  const id = randomId("cs_test_");
  const created = Math.floor(Date.now() / 1000);
  const session: FakeCheckoutSession = {
    id,
    object: "checkout.session",
    amount_subtotal: total,
    amount_total: total,
    client_reference_id: (form.client_reference_id as string | undefined) ?? null,
    created,
    currency: currency ?? "usd",
    customer: (form.customer as string | undefined) ?? null,
    expires_at: created + 24 * 3600,
    livemode: false,
    metadata: (form.metadata as Record<string, string> | undefined) ?? {},
    mode: form.mode as string,
    payment_intent: null,
    payment_status: "unpaid",
    status: "open",
    success_url: form.success_url as string,
    cancel_url: (form.cancel_url as string | undefined) ?? null,
    url: `https://checkout.stripe.com/c/pay/${id}`,
  };
  sessions.set(id, session);
  json(res, session);
}

export async function startFakeStripeServer(): Promise<FakeStripeServer> {
  const requests: RecordedRequest[] = [];
  const sessions = new Map<string, FakeCheckoutSession>();
  let pendingFailure: { status: number; error: { type?: string; message?: string; code?: string } } | undefined;

  const handle = (req: IncomingMessage, res: ServerResponse, rawBody: string): void => {
    const url = new URL(req.url ?? "/", "http://fake-stripe");
    const form = parseStripeForm(req.method === "GET" ? url.search.slice(1) : rawBody);
    requests.push({ method: req.method ?? "", path: url.pathname, headers: req.headers, rawBody, form });
    if (!/^Bearer sk_(test|live)_\S+$/.test(req.headers.authorization ?? "")) {
      stripeError(res, 401, { type: "invalid_request_error", message: "Invalid API Key provided" });
      return;
    }
    if (pendingFailure !== undefined) {
      const { status, error } = pendingFailure;
      pendingFailure = undefined;
      stripeError(res, status, error);
      return;
    }
    if (req.method === "POST" && url.pathname === "/v1/checkout/sessions") {
      createSession(form as { [key: string]: FormValue }, sessions, res);
      return;
    }
    const retrieve = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(url.pathname);
    if (req.method === "GET" && retrieve) {
      const session = sessions.get(retrieve[1]);
      if (session === undefined) stripeError(res, 404, { type: "invalid_request_error", code: "resource_missing", message: `No such checkout.session: '${retrieve[1]}'` });
      else json(res, session);
      return;
    }
    stripeError(res, 404, { type: "invalid_request_error", message: `Unrecognized request URL (${req.method}: ${url.pathname}).` });
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handle(req, res, Buffer.concat(chunks).toString("utf8")));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    clientOptions: { host: "127.0.0.1", port, protocol: "http" },
    requests,
    sessions,
    completeSession(sessionId, paymentStatus = "paid") {
      const session = sessions.get(sessionId);
      if (session === undefined) throw new Error(`fake stripe: no session ${sessionId}`);
      session.status = "complete";
      session.payment_status = paymentStatus;
      session.payment_intent = randomId("pi_");
      return session;
    },
    failNext(status, error = {}) {
      pendingFailure = { status, error };
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
