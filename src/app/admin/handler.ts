// One admin HTTP request: token first (before a byte of the body is read), then the route, the
// bounded JSON body, the billing call, and the result as JSON — or the project's error body, the
// same {"error": {code, reason, message, request_id}} the public REST API answers with.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { invalidArgument, ServiceError } from "../../core/errors";
import { limits } from "../../core/limits";
import type { Logger } from "../../observability/logger";
import { sendError } from "../../transport/rest/errors";
import type { OperatorBilling } from "./protocol";
import { bearerMatches } from "./token";
import { bodyless, matchRoute } from "./routes";

export interface AdminHandlerDeps {
  billing: OperatorBilling;
  token: string;
  logger: Logger;
}

export function adminHandler(deps: AdminHandlerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const requestId = `admin_${randomUUID()}`;
    const startMs = Date.now();
    void answer(deps, req)
      .then((result) => sendJson(res, 200, result))
      .catch((err: unknown) => {
        const e = ServiceError.from(err);
        if (e.reason === "INTERNAL") deps.logger.error({ requestId, err: String((e as { cause?: unknown }).cause ?? err) }, "admin call failed");
        // A body we refused unread must not be parsed as the next request: close after answering.
        if (!req.complete) res.setHeader("connection", "close");
        const allow: Record<string, string> = e.reason === "METHOD_NOT_ALLOWED" ? { allow: String(e.details.allow ?? "") } : {};
        sendError(res, e, requestId, allow);
      })
      .finally(() => deps.logger.info({ requestId, method: req.method, path: req.url, status: res.statusCode, ms: Date.now() - startMs }, "operator admin call"));
  };
}

async function answer(deps: AdminHandlerDeps, req: IncomingMessage): Promise<unknown> {
  if (!bearerMatches(req.headers.authorization, deps.token)) {
    throw new ServiceError("UNAUTHENTICATED", "missing or wrong operator token (Authorization: Bearer <the contents of admin.token in the data dir>)");
  }
  const url = new URL(req.url ?? "/", "http://admin");
  const method = req.method ?? "GET";
  const route = matchRoute(method, url.pathname);
  const body = bodyless(method) ? {} : await readJsonBody(req);
  return route.handler(deps.billing, route.params, body, url.searchParams);
}

async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const declared = Number(req.headers["content-length"] ?? 0);
  const tooLarge = () => new ServiceError("PAYLOAD_TOO_LARGE", `admin request bodies are at most ${limits.adminBodyBytesMax} bytes`, { limit_bytes: limits.adminBodyBytesMax });
  if (declared > limits.adminBodyBytesMax) throw tooLarge();
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > limits.adminBodyBytesMax) throw tooLarge();
    chunks.push(chunk);
  }
  if (bytes === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw invalidArgument("body", "expected a JSON object");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw invalidArgument("body", "expected a JSON object");
  return parsed as Record<string, unknown>;
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const payload = Buffer.from(JSON.stringify(value ?? null));
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": String(payload.length), "cache-control": "no-store" });
  res.end(payload);
}
