// Body limits and content types: 413 without reading a huge body, 415 for the wrong media type.

import { strict as assert } from "node:assert";
import { ServiceError } from "../../src/core/errors";
import { limits } from "../../src/core/limits";
import { CreateTopupResponse } from "../../src/gen/dream/v1/dream";
import { FakeMethods, json, rawSocket, readUntil, start, TEST_ACCOUNT, type Started } from "./helpers";

const TOPUP = "/dream.v1.Billing/CreateTopup";

describe("rest: body limits and content types", () => {
  let s: Started;
  const small = { ...limits, httpBodyBytesMax: 64 * 1024 };
  const fake = new FakeMethods().unary(TOPUP, (req) => CreateTopupResponse.fromPartial({ amountUsd: req.amountUsd }));
  before(async () => (s = await start(fake.table, {}, { limits: small })));
  after(() => s.close());

  it("a declared Content-Length over the limit is refused with 413 before the body is sent", async () => {
    const socket = await rawSocket(s.port);
    const huge = 10 * 1024 * 1024 * 1024; // 10 GiB declared; we send only the headers and one small chunk
    socket.write(`POST /v1/billing/topup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${huge}\r\n\r\n{"amount_usd":`);
    const answer = await readUntil(socket, (t) => t.includes("\r\n\r\n") && t.includes("}}"));
    socket.destroy();
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.match(answer, /connection: close/i);
    assert.match(answer, /x-dreamengine-request-id: /i);
    const body = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));
    assert.equal(body.error.reason, "PAYLOAD_TOO_LARGE");
    assert.equal(fake.calls.length, 0, "the handler never ran");
  });

  it("a chunked body is counted while streaming and refused at the limit, without waiting for its end", async () => {
    const socket = await rawSocket(s.port);
    socket.write("POST /v1/billing/topup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    let sent = 0;
    let answered = false;
    const answer = readUntil(socket, (t) => t.includes("}}")).then((t) => {
      answered = true;
      return t;
    });
    // Keep sending (never the terminating chunk) until the server answers; it must answer early.
    while (!answered && sent < 100 * small.httpBodyBytesMax) {
      if (!socket.destroyed) socket.write(`${chunk.length.toString(16)}\r\n${chunk.toString()}\r\n`);
      sent += chunk.length;
      await new Promise((r) => setImmediate(r));
      if (sent % (256 * 1024) === 0) await new Promise((r) => setTimeout(r, 5));
    }
    const text = await answer;
    assert.match(text, /^HTTP\/1\.1 413 /);
    assert.ok(sent < 100 * small.httpBodyBytesMax, `answered after ${sent} bytes`);
    // A client that keeps sending after the answer is cut off by the server (after a short linger).
    let closed = false;
    socket.on("close", () => (closed = true));
    socket.on("error", () => (closed = true));
    for (let i = 0; i < 1000 && !closed; i++) {
      if (!socket.destroyed) socket.write(`${chunk.length.toString(16)}\r\n${chunk.toString()}\r\n`);
      await new Promise((r) => setTimeout(r, 10));
    }
    socket.destroy();
    assert.ok(closed, "the server closed the connection");
  });

  it("a body within the limit is accepted", async () => {
    const res = await fetch(`${s.url}/v1/billing/topup`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ amount_usd: 25 }) });
    assert.equal(res.status, 200);
    assert.equal(fake.last().request.amountUsd, 25);
    assert.equal((await json(res)).amount_usd, 25);
  });

  it("the wrong content type is 415 UNSUPPORTED_MEDIA_TYPE", async () => {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      const res = await fetch(`${s.url}/v1/billing/topup`, { method: "POST", headers: { "content-type": type }, body: "amount_usd=25" });
      assert.equal(res.status, 415, type);
      const body = await json(res);
      assert.equal(body.error.reason, "UNSUPPORTED_MEDIA_TYPE");
      assert.equal(body.error.code, "invalid_argument");
    }
    const noType = await fetch(`${s.url}/v1/billing/topup`, { method: "POST", body: new Uint8Array(Buffer.from('{"amount_usd": 25}')) });
    assert.equal(noType.status, 415, "a body without Content-Type");
  });

  it("an empty body on a body route is the empty message", async () => {
    const res = await fetch(`${s.url}/v1/billing/topup`, { method: "POST" });
    assert.equal(res.status, 200);
    assert.equal(fake.last().request.amountUsd, 0);
  });

  it("keeps serving on a fresh connection after refusing a body", async () => {
    const res = await fetch(`${s.url}/v1/billing/topup`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ amount_usd: 6 }) });
    assert.equal(res.status, 200);
  });
});

describe("rest: Expect: 100-continue", () => {
  let s: Started;
  const fake = new FakeMethods().unary(TOPUP, (req) => CreateTopupResponse.fromPartial({ amountUsd: req.amountUsd }));
  before(async () => (s = await start(fake.table, {}, { limits: { ...limits, httpBodyBytesMax: 1024 } })));
  after(() => s.close());

  it("answers an oversized upload with 413 instead of 100 Continue", async () => {
    const socket = await rawSocket(s.port);
    socket.write("POST /v1/billing/topup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n");
    const answer = await readUntil(socket, (t) => t.includes("}}"));
    socket.destroy();
    assert.match(answer, /^HTTP\/1\.1 413 /, "no 100 Continue first");
  });

  it("invites a body that fits and serves it", async () => {
    const socket = await rawSocket(s.port);
    const body = JSON.stringify({ amount_usd: 9 });
    socket.write(`POST /v1/billing/topup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
    const cont = await readUntil(socket, (t) => t.includes("\r\n\r\n"));
    assert.match(cont, /^HTTP\/1\.1 100 Continue/);
    socket.write(body);
    const answer = await readUntil(socket, (t) => t.includes("}"));
    socket.destroy();
    assert.match(answer, /HTTP\/1\.1 200 /);
    assert.equal(fake.last().request.amountUsd, 9);
  });
});

describe("rest: bodies on routes that take none", () => {
  let s: Started;
  const fake = new FakeMethods().unary("/dream.v1.Billing/GetBalance", () => ({ customerId: "c", balanceMicros: 0, balanceMils: 0, balanceCents: 0, balanceUsd: 0, heldMicros: 0 }));
  before(async () => (s = await start(fake.table, {}, { limits: { ...limits, httpBodyBytesMax: 1024 } })));
  after(() => s.close());

  it("a GET with a huge declared body is refused with 413 and never read", async () => {
    const socket = await rawSocket(s.port);
    socket.write("GET /v1/billing/balance HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n");
    const answer = await readUntil(socket, (t) => t.includes("}}"));
    socket.destroy();
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.equal(fake.calls.length, 0);
  });

  it("error answers to body-less requests keep the connection alive", async () => {
    const socket = await rawSocket(s.port);
    socket.write("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    const first = await readUntil(socket, (t) => t.includes("}}"));
    assert.match(first, /^HTTP\/1\.1 404 /);
    assert.doesNotMatch(first, /connection: close/i);
    socket.write("GET /v1/billing/balance HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const second = await readUntil(socket, (t) => t.includes("}"));
    socket.destroy();
    assert.match(second, /^HTTP\/1\.1 200 /);
  });

  it("a GET with a small unread body is served, and its connection is closed afterwards", async () => {
    const socket = await rawSocket(s.port);
    socket.write("GET /v1/billing/balance HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    const answer = await readUntil(socket, (t) => t.includes("}"));
    socket.destroy();
    assert.match(answer, /^HTTP\/1\.1 200 /);
    assert.match(answer, /connection: close/i);
  });
});

describe("rest: the method's guard runs before any body byte is read", () => {
  const PREDICT = "/dream.v1.Models/Predict";
  let s: Started;
  let bodyBytes = 0;
  const fake = new FakeMethods()
    .unary(PREDICT, () => ({}))
    .unary(TOPUP, (req) => CreateTopupResponse.fromPartial({ amountUsd: req.amountUsd }))
    .admit(PREDICT, async (ctx) => {
      if (ctx.apiKey !== "good") throw new ServiceError("UNAUTHENTICATED", "unknown API key");
      return TEST_ACCOUNT;
    })
    .admit(TOPUP, async (ctx) => {
      if (ctx.apiKey !== "good") throw new ServiceError("UNAUTHENTICATED", "unknown API key");
      return TEST_ACCOUNT;
    });
  before(async () => (s = await start(fake.table, {}, { onBodyBytes: (n) => (bodyBytes += n) })));
  after(() => s.close());
  beforeEach(() => (bodyBytes = 0));

  it("an unauthenticated 60 MB multipart upload is answered 401 before the client has sent it, and none of it is read", async () => {
    const total = 60 * 1024 * 1024;
    const boundary = "b0undary";
    const socket = await rawSocket(s.port);
    socket.on("error", () => undefined); // the server may cut us off mid-send: that is the point
    socket.write(`POST /v1/models/dream-reference-tiny/predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${total}\r\n\r\n`);
    socket.write(`--${boundary}\r\nContent-Disposition: form-data; name="actions"; filename="a.npy"\r\nContent-Type: application/octet-stream\r\n\r\n`);
    let answered = false;
    const answer = readUntil(socket, (t) => t.includes("}}")).then((t) => {
      answered = true;
      return t;
    });
    // Send with backpressure (as a real client does) until the server answers or everything is sent.
    const chunk = Buffer.alloc(1024 * 1024, 0x41);
    let sent = 0;
    while (!answered && !socket.destroyed && sent < total - chunk.length) {
      sent += chunk.length;
      if (!socket.write(chunk)) await Promise.race([new Promise((r) => socket.once("drain", r)), answer]);
    }
    const text = await answer;
    socket.destroy();
    assert.match(text, /^HTTP\/1\.1 401 /);
    assert.match(text, /connection: close/i);
    assert.ok(sent < total / 2, `answered after the client sent ${sent} of ${total} bytes`);
    assert.equal(bodyBytes, 0, "no body byte reached a reader");
    assert.equal(fake.calls.filter((c) => c.path === PREDICT).length, 0, "the handler never ran");
  });

  it("Expect: 100-continue without a valid key gets its 401 instead of an invitation", async () => {
    const socket = await rawSocket(s.port);
    socket.write("POST /v1/billing/topup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n");
    const answer = await readUntil(socket, (t) => t.includes("}}"));
    socket.destroy();
    assert.match(answer, /^HTTP\/1\.1 401 /, "no 100 Continue first");
    assert.equal(bodyBytes, 0);
  });

  it("with a valid key the body is invited, read and served", async () => {
    const socket = await rawSocket(s.port);
    const body = JSON.stringify({ amount_usd: 7 });
    socket.write(`POST /v1/billing/topup HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
    const cont = await readUntil(socket, (t) => t.includes("\r\n\r\n"));
    assert.match(cont, /^HTTP\/1\.1 100 Continue/);
    socket.write(body);
    const answer = await readUntil(socket, (t) => t.includes("}"));
    socket.destroy();
    assert.match(answer, /HTTP\/1\.1 200 /);
    assert.equal(bodyBytes, body.length);
    assert.equal(fake.last(TOPUP).request.amountUsd, 7);
  });
});
