// How the fuzzer sends a case and what it keeps of the answer: status (HTTP) or code (gRPC), the
// documented reason when there is one, the error body's size, and whether it was answered in time.
import * as http from "node:http";
import * as grpc from "@grpc/grpc-js";
import { errorInfoOf } from "../../src/wire/status-details";
import type { GrpcCase } from "./grpc-cases";
import type { RestCase } from "./rest-cases";

export interface Answer {
  /** HTTP status, or gRPC code as "grpc:N"; "none" when nothing came back in time; "transport" on a reset. */
  status: string;
  ok: boolean;
  reason?: string;
  errorBytes: number;
  detail?: string;
}

const passthrough = (b: Buffer) => b;

export function sendRest(agent: http.Agent, port: number, c: RestCase, answerMs: number): Promise<Answer> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = { ...c.headers };
    if (c.body) headers["content-length"] = c.body.length;
    let done = false;
    const finish = (a: Answer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(a);
    };
    let req: http.ClientRequest;
    try {
      req = http.request({ host: "127.0.0.1", port, method: c.method, path: c.path, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("error", () => finish({ status: String(res.statusCode), ok: false, errorBytes: 0, detail: "response aborted" }));
        res.on("end", () => {
          const body = Buffer.concat(chunks);
          const status = res.statusCode ?? 0;
          const ok = status >= 200 && status < 300;
          finish({ status: String(status), ok, reason: ok ? undefined : reasonOf(body), errorBytes: ok ? 0 : body.length });
        });
      });
    } catch (err) {
      // node refused to send it (an invalid header or path character): not a server answer at all.
      resolve({ status: "unsendable", ok: false, errorBytes: 0, detail: (err as Error).message });
      return;
    }
    const timer = setTimeout(() => {
      finish({ status: "none", ok: false, errorBytes: 0 });
      req.destroy();
    }, answerMs);
    req.on("error", (err) => finish({ status: "transport", ok: false, errorBytes: 0, detail: (err as NodeJS.ErrnoException).code ?? err.message }));
    req.end(c.body);
  });
}

function reasonOf(body: Buffer): string | undefined {
  try {
    return (JSON.parse(body.toString("utf8")) as { error?: { reason?: string } }).error?.reason;
  } catch {
    return undefined;
  }
}

export function sendGrpc(client: grpc.Client, c: GrpcCase, answerMs: number): Promise<Answer> {
  return new Promise((resolve) => {
    const md = new grpc.Metadata();
    if (c.authorization !== undefined) md.set("authorization", c.authorization);
    // The deadline is the answer bound plus slack: a DEADLINE_EXCEEDED here means the server never answered.
    const options = { deadline: Date.now() + answerMs };
    const settle = (err: grpc.ServiceError | null) => {
      if (!err) return resolve({ status: "grpc:0", ok: true, errorBytes: 0 });
      const reason = errorInfoOf(err.metadata)?.reason;
      const status = err.code === grpc.status.DEADLINE_EXCEEDED && !reason ? "none" : `grpc:${err.code}`;
      resolve({ status, ok: false, reason, errorBytes: Buffer.byteLength(err.details ?? ""), detail: err.details });
    };
    if (c.stream) {
      const call = client.makeServerStreamRequest(c.path, passthrough, passthrough, c.bytes, md, options);
      call.on("data", () => undefined);
      call.on("error", (err: grpc.ServiceError) => settle(err));
      call.on("status", (s: grpc.StatusObject) => {
        if (s.code === grpc.status.OK) settle(null);
      });
      return;
    }
    client.makeUnaryRequest(c.path, passthrough, passthrough, c.bytes, md, options, (err) => settle(err));
  });
}
