// Shared by the REST tests: a server on 127.0.0.1:0 over a fake MethodTable that records what each
// handler received, plus small request builders. Real HTTP throughout (global fetch / node:net).

import * as net from "node:net";
import * as path from "node:path";
import * as protoLoader from "@grpc/proto-loader";
import type { Admission, CallContext, MethodImpl, MethodTable } from "../../src/service/context";
import type { Account } from "../../src/service/ports";
import { createRestServer, loadApi, type RestExtras, type RestServer, type RestServerOptions } from "../../src/transport/rest";
import type { GrpcMethodDefinition } from "../../src/transport/rest";
import { encodeNpy } from "../../src/codec/npy";

export interface Call {
  path: string;
  request: any;
  ctx: CallContext;
}

/** A method anyone may call, admitted without a guard of its own (these tests exercise the transport). */
const PUBLIC = { access: "public", admit: async (): Promise<Admission> => ({ access: "public" }) } as const;

/** What a test's guard admits as: enough of an Account for handlers that never touch billing. */
export const TEST_ACCOUNT: Account = { customerId: "cus_test", keyId: "key_test", rateLimit: { ratePerS: 1e6, burst: 1e6 } };

export class FakeMethods {
  readonly calls: Call[] = [];
  readonly table: MethodTable = new Map();

  unary(path: string, fn: (request: any, ctx: CallContext) => unknown | Promise<unknown>): this {
    const impl: MethodImpl = {
      kind: "unary",
      ...PUBLIC,
      handler: async (request: any, ctx: CallContext) => {
        this.calls.push({ path, request, ctx });
        return fn(request, ctx);
      },
    };
    this.table.set(path, impl);
    return this;
  }

  stream(path: string, fn: (request: any, ctx: CallContext, send: (m: any) => Promise<void>) => Promise<void>): this {
    this.table.set(path, {
      kind: "server-stream",
      ...PUBLIC,
      handler: async (request: any, ctx: CallContext, _admission: Admission, send: (m: any) => Promise<void>) => {
        this.calls.push({ path, request, ctx });
        await fn(request, ctx, send);
      },
    });
    return this;
  }

  /** Gives `path`'s method a transport-run guard (MethodImpl.admit), as buildMethods does for every method. */
  admit(path: string, fn: (ctx: CallContext) => Promise<Account>): this {
    const impl = this.table.get(path);
    if (impl === undefined) throw new Error(`register ${path} before giving it a guard`);
    this.table.set(path, { ...impl, access: "authorized", admit: async (ctx) => ({ access: "authorized", account: await fn(ctx) }) });
    return this;
  }

  last(path?: string): Call {
    const calls = path === undefined ? this.calls : this.calls.filter((c) => c.path === path);
    const call = calls[calls.length - 1];
    if (call === undefined) throw new Error(`no call recorded${path ? ` for ${path}` : ""}`);
    return call;
  }
}

export interface Started {
  rest: RestServer;
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function start(methods: MethodTable, extras?: RestExtras, more: Partial<RestServerOptions> = {}): Promise<Started> {
  const rest = createRestServer({ methods, extras, ...more });
  const port = await rest.listen({ host: "127.0.0.1", port: 0 });
  const addr = rest.address()!;
  if (addr.port !== port) throw new Error("address() disagrees with listen()");
  return { rest, url: addr.url, port, close: () => rest.close() };
}

export const FIXTURE_PROTO_DIR = path.resolve(__dirname, "../fixtures/proto");
export const REPO_PROTO_DIR = path.resolve(__dirname, "../../proto");

/** The fixture API, with codecs from @grpc/proto-loader — exactly how a grpc-js server would serve it. */
export function fixtureApi() {
  const pkg = protoLoader.loadSync("fixture/v1/echo.proto", { includeDirs: [FIXTURE_PROTO_DIR, REPO_PROTO_DIR], longs: String, enums: String, oneofs: true });
  const service = pkg["fixture.v1.Echo"] as unknown as Record<string, GrpcMethodDefinition>;
  return loadApi({ includeDirs: [FIXTURE_PROTO_DIR, REPO_PROTO_DIR], files: ["fixture/v1/echo.proto"], definitions: [service] });
}

export async function json(res: Response): Promise<any> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`not JSON (status ${res.status}): ${text.slice(0, 200)}`);
  }
}

/** A multipart/form-data body by hand (so the test controls every byte the parser sees). */
export function formBody(parts: Array<{ name: string; filename?: string; type?: string; data: Buffer | string }>, boundary = "----dreamtestboundary7MA4YWxk"): { body: Buffer; contentType: string } {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ""}\r\n`;
    if (p.type) head += `Content-Type: ${p.type}\r\n`;
    chunks.push(Buffer.from(head + "\r\n"), Buffer.isBuffer(p.data) ? p.data : Buffer.from(p.data), Buffer.from("\r\n"));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

export function actionsNpy(t: number, d = 384, fill = (i: number) => i / 1000): Buffer {
  const data = new Float32Array(t * d);
  for (let i = 0; i < data.length; i++) data[i] = fill(i);
  return encodeNpy(data, [t, d]);
}

/** A float64 .npy written by hand (encodeNpy only writes float32 and uint8). */
export function float64Npy(values: number[], shape: number[]): Buffer {
  let dict = `{'descr': '<f8', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`;
  dict += " ".repeat((64 - ((10 + dict.length + 1) % 64)) % 64) + "\n";
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(dict.length, 8);
  const data = Buffer.from(new Float64Array(values).buffer);
  return Buffer.concat([head, Buffer.from(dict, "latin1"), data]);
}

export const PNG_BYTES = Buffer.from("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a2e1a4a50000000049454e44ae426082", "hex");

/** Raw HTTP over a socket, for cases fetch hides (early answers, half-sent bodies). */
export function rawSocket(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1", () => resolve(s));
    s.once("error", reject);
  });
}

/** Resolves with everything received until `until(text)` holds or the socket closes. */
export function readUntil(socket: net.Socket, until: (text: string) => boolean): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    const done = (): void => {
      socket.off("data", onData);
      socket.off("close", done);
      resolve(text);
    };
    const onData = (chunk: Buffer): void => {
      text += chunk.toString("latin1");
      if (until(text)) done();
    };
    socket.on("data", onData);
    socket.on("close", done);
  });
}

/** Parses a multipart/mixed body into parts with lower-cased headers. */
export function parseMixed(body: Buffer, contentType: string): Array<{ headers: Record<string, string>; body: Buffer }> {
  const m = /boundary=([^;]+)/.exec(contentType);
  if (!m) throw new Error(`no boundary in ${contentType}`);
  const delim = Buffer.from(`--${m[1]}`);
  const parts: Array<{ headers: Record<string, string>; body: Buffer }> = [];
  let at = body.indexOf(delim);
  for (;;) {
    const after = at + delim.length;
    if (body.subarray(after, after + 2).toString() === "--") break;
    const headEnd = body.indexOf("\r\n\r\n", after);
    const headers: Record<string, string> = {};
    for (const line of body.subarray(after + 2, headEnd).toString().split("\r\n")) {
      const c = line.indexOf(":");
      headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
    }
    const next = body.indexOf(Buffer.concat([Buffer.from("\r\n"), delim]), headEnd + 4);
    parts.push({ headers, body: body.subarray(headEnd + 4, next) });
    at = next + 2;
  }
  return parts;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` (no timing assertions: only bounded waiting for an event that must happen). */
export async function eventually(cond: () => boolean, what: string, tries = 500): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (cond()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for: ${what}`);
}
