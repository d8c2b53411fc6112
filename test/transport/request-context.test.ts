// One header parser for both transports (issue 11, item 3): the same request id, API key and deadline
// whether a call arrives as gRPC metadata or as HTTP headers. Every row runs through BOTH transports'
// context builders (grpc/context.ts on a grpc-js Metadata, rest/call-context.ts on an IncomingMessage
// look-alike) and must give the same answer, and the expected one.
import { strict as assert } from "node:assert";
import { EventEmitter } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Metadata } from "@grpc/grpc-js";
import type { Clock } from "../../src/core/clock";
import { ServiceError } from "../../src/core/errors";
import { limits } from "../../src/core/limits";
import type { CallContext } from "../../src/service/context";
import { callContext, grpcCallContext } from "../../src/transport/grpc/context";
import { buildContext, requestIdFrom } from "../../src/transport/rest/call-context";

const NOW_WALL_MS = 1_800_000_000_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Row {
  name: string;
  headers: Record<string, string>;
  /** A transport deadline: REST sends it as grpc-timeout, gRPC gets it as grpc-js's own deadline (grpc-js consumes that header). */
  timeout?: { header: string; ms: number };
  /** "fresh": a new UUID. */
  expect: { requestId: string; apiKey?: string; deadlineInMs?: number } | { error: RegExp };
}

const rows: Row[] = [
  { name: "no headers", headers: {}, expect: { requestId: "fresh" } },
  { name: "X-DreamEngine-Request-Id", headers: { "x-dreamengine-request-id": "req-1" }, expect: { requestId: "req-1" } },
  { name: "X-Request-Id alone", headers: { "x-request-id": "req-2" }, expect: { requestId: "req-2" } },
  { name: "both ids: X-DreamEngine-Request-Id wins", headers: { "x-dreamengine-request-id": "a.1", "x-request-id": "b.2" }, expect: { requestId: "a.1" } },
  { name: "an unusable X-DreamEngine-Request-Id falls back to X-Request-Id", headers: { "x-dreamengine-request-id": "no spaces allowed", "x-request-id": "fallback:3" }, expect: { requestId: "fallback:3" } },
  { name: "an over-long id is replaced by a fresh one", headers: { "x-request-id": "r".repeat(limits.requestIdBytesMax + 1) }, expect: { requestId: "fresh" } },
  { name: "an empty id is replaced by a fresh one", headers: { "x-dreamengine-request-id": " " }, expect: { requestId: "fresh" } },
  { name: "Bearer token", headers: { authorization: "Bearer dre_abc123" }, expect: { requestId: "fresh", apiKey: "dre_abc123" } },
  { name: "scheme is case-insensitive", headers: { authorization: "bEaReR dre_abc" }, expect: { requestId: "fresh", apiKey: "dre_abc" } },
  { name: "several spaces and trailing whitespace", headers: { authorization: "Bearer   dre_abc  " }, expect: { requestId: "fresh", apiKey: "dre_abc" } },
  { name: "every token68 character, with padding", headers: { authorization: "Bearer aZ09-._~+/==" }, expect: { requestId: "fresh", apiKey: "aZ09-._~+/==" } },
  { name: "scheme without a token", headers: { authorization: "Bearer" }, expect: { requestId: "fresh" } },
  { name: "scheme and a space only", headers: { authorization: "Bearer " }, expect: { requestId: "fresh" } },
  { name: "another scheme", headers: { authorization: "Basic Zm9vOmJhcg==" }, expect: { requestId: "fresh" } },
  { name: "no space after the scheme", headers: { authorization: "Bearerdre_abc" }, expect: { requestId: "fresh" } },
  { name: "two tokens", headers: { authorization: "Bearer dre_a dre_b" }, expect: { requestId: "fresh" } },
  { name: "a character outside token68", headers: { authorization: "Bearer dre,abc" }, expect: { requestId: "fresh" } },
  { name: "padding only at the end", headers: { authorization: "Bearer ab=cd" }, expect: { requestId: "fresh" } },
  { name: "X-DreamEngine-Deadline-Ms", headers: { "x-dreamengine-deadline-ms": "5000" }, expect: { requestId: "fresh", deadlineInMs: 5000 } },
  { name: "a transport deadline alone", headers: {}, timeout: { header: "2S", ms: 2000 }, expect: { requestId: "fresh", deadlineInMs: 2000 } },
  { name: "the transport deadline is earlier", headers: { "x-dreamengine-deadline-ms": "5000" }, timeout: { header: "2000m", ms: 2000 }, expect: { requestId: "fresh", deadlineInMs: 2000 } },
  { name: "the header deadline is earlier", headers: { "x-dreamengine-deadline-ms": "250" }, timeout: { header: "1M", ms: 60_000 }, expect: { requestId: "fresh", deadlineInMs: 250 } },
  { name: "a deadline that is not a number", headers: { "x-dreamengine-deadline-ms": "soon" }, expect: { error: /^X-DreamEngine-Deadline-Ms: expected an integer in \[1, \d+\], got "soon"$/ } },
  { name: "a zero deadline", headers: { "x-dreamengine-deadline-ms": "0" }, expect: { error: /^X-DreamEngine-Deadline-Ms: expected an integer/ } },
  { name: "a deadline over deadlineMsMax", headers: { "x-dreamengine-deadline-ms": String(limits.deadlineMsMax + 1) }, expect: { error: /^X-DreamEngine-Deadline-Ms: expected an integer/ } },
  { name: "everything at once", headers: { "x-request-id": "all-1", authorization: "Bearer dre_all", "x-dreamengine-deadline-ms": "900" }, expect: { requestId: "all-1", apiKey: "dre_all", deadlineInMs: 900 } },
];

const fixedClock: Clock = { nowUs: () => NOW_WALL_MS * 1000, wallMs: () => NOW_WALL_MS };

/** The REST builder as the server calls it (request id first, then the context). */
function viaRest(row: Row): CallContext {
  const headers = { ...row.headers, ...(row.timeout ? { "grpc-timeout": row.timeout.header } : {}) };
  const req = { headers, socket: { remoteAddress: "::ffff:127.0.0.1" } } as unknown as IncomingMessage;
  const res = Object.assign(new EventEmitter(), { writableFinished: false }) as unknown as ServerResponse;
  const built = buildContext(req, res, requestIdFrom(req), fixedClock, limits);
  built.dispose();
  return built.ctx;
}

/** The gRPC builder as the server calls it, on metadata grpc-js has already taken grpc-timeout from. */
function viaGrpc(row: Row): CallContext {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(row.headers)) metadata.set(k, v);
  const deadline = row.timeout ? new Date(NOW_WALL_MS + row.timeout.ms) : Infinity;
  const controller = new AbortController();
  const ctx = grpcCallContext({ metadata, getPeer: () => "127.0.0.1:50123", getDeadline: () => deadline }, controller, NOW_WALL_MS);
  controller.abort(); // stops a deadline timer the row armed
  return ctx;
}

type Outcome = { requestId: string; apiKey: string | undefined; deadlineInMs: number | undefined } | { reason: string; message: string };

function outcome(build: () => CallContext): Outcome {
  try {
    const ctx = build();
    return { requestId: UUID.test(ctx.requestId) ? "fresh" : ctx.requestId, apiKey: ctx.apiKey, deadlineInMs: ctx.deadlineWallMs === undefined ? undefined : ctx.deadlineWallMs - NOW_WALL_MS };
  } catch (err) {
    if (!(err instanceof ServiceError)) throw err;
    return { reason: err.reason, message: err.message };
  }
}

describe("request context: one parser for gRPC metadata and HTTP headers", () => {
  for (const row of rows) {
    it(row.name, () => {
      const rest = outcome(() => viaRest(row));
      const grpc = outcome(() => viaGrpc(row));
      assert.deepEqual(grpc, rest, "both transports read the same headers the same way");
      if ("error" in row.expect) {
        assert.ok("reason" in rest, `expected an error, got ${JSON.stringify(rest)}`);
        assert.equal(rest.reason, "INVALID_ARGUMENT");
        assert.match(rest.message, row.expect.error);
      } else {
        assert.deepEqual(rest, { requestId: row.expect.requestId, apiKey: row.expect.apiKey, deadlineInMs: row.expect.deadlineInMs });
      }
    });
  }

  it("a fresh id is a new UUID each time, on both transports", () => {
    const row: Row = { name: "", headers: { "x-request-id": "bad id" }, expect: { requestId: "fresh" } };
    const ids = [viaRest(row), viaRest(row), viaGrpc(row), viaGrpc(row)].map((c) => c.requestId);
    for (const id of ids) assert.match(id, UUID);
    assert.equal(new Set(ids).size, 4);
  });

  it("both transports record when they saw the call and the caller's address", () => {
    const row: Row = { name: "", headers: {}, expect: { requestId: "fresh" } };
    for (const ctx of [viaRest(row), viaGrpc(row)]) {
      assert.equal(ctx.receivedWallMs, NOW_WALL_MS);
      assert.equal(ctx.peer, "127.0.0.1");
      assert.equal(ctx.responseHeaders.size, 0);
    }
  });
});

describe("request context: deadlines abort the call", () => {
  const grpcCall = (headers: Record<string, string>, deadline: Date | number, controller: AbortController): CallContext => {
    const metadata = new Metadata();
    for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
    return grpcCallContext({ metadata, getPeer: () => "127.0.0.1:1", getDeadline: () => deadline }, controller, Date.now());
  };
  const aborted = (signal: AbortSignal): Promise<unknown> => new Promise((resolve) => signal.addEventListener("abort", () => resolve(signal.reason), { once: true }));

  it("gRPC: x-dreamengine-deadline-ms earlier than grpc-js's deadline aborts with DEADLINE_EXCEEDED", async () => {
    const controller = new AbortController();
    const ctx = grpcCall({ "x-dreamengine-deadline-ms": "20" }, new Date(Date.now() + 60_000), controller);
    const reason = await aborted(ctx.signal);
    assert.ok(reason instanceof ServiceError);
    assert.equal(reason.reason, "DEADLINE_EXCEEDED");
  });

  it("gRPC: a header deadline later than grpc-js's own arms no timer (grpc-js cancels the call itself)", async () => {
    const controller = new AbortController();
    const ctx = grpcCall({ "x-dreamengine-deadline-ms": "20" }, new Date(Date.now() + 10), controller);
    assert.ok(ctx.deadlineWallMs! <= Date.now() + 10);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(ctx.signal.aborted, false, "nothing but grpc-js may end this call at its deadline");
  });

  it("gRPC callContext (built inside grpc-js's metadata callback, which must not throw) drops a malformed deadline header", () => {
    const metadata = new Metadata();
    metadata.set("x-dreamengine-deadline-ms", "soon");
    metadata.set("authorization", "Bearer dre_k");
    const head = { metadata, getPeer: () => "127.0.0.1:1", getDeadline: () => Infinity };
    assert.throws(() => grpcCallContext(head, new AbortController()), (err: unknown) => err instanceof ServiceError && err.reason === "INVALID_ARGUMENT");
    const ctx = callContext(head, new AbortController());
    assert.equal(ctx.deadlineWallMs, undefined);
    assert.equal(ctx.apiKey, "dre_k");
    assert.deepEqual(metadata.get("x-dreamengine-deadline-ms"), ["soon"], "the call's own metadata is left as it came");
  });

  it("REST: the deadline aborts with DEADLINE_EXCEEDED, and dispose stops the timer", async () => {
    const req = { headers: { "x-dreamengine-deadline-ms": "20" }, socket: { remoteAddress: "127.0.0.1" } } as unknown as IncomingMessage;
    const res = Object.assign(new EventEmitter(), { writableFinished: false }) as unknown as ServerResponse;
    const fired = buildContext(req, res, "r-1", fixedClock, limits);
    const reason = await aborted(fired.ctx.signal);
    assert.equal((reason as ServiceError).reason, "DEADLINE_EXCEEDED");
    const stopped = buildContext(req, res, "r-2", fixedClock, limits);
    stopped.dispose();
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(stopped.ctx.signal.aborted, false);
  });
});
