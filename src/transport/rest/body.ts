// Request bodies under a byte limit. An over-limit body is refused from its Content-Length before a
// byte is read; without one (chunked) we count while streaming and stop reading at the limit, so a
// client cannot make us buffer more than the limit either way.

import type { IncomingMessage } from "node:http";
import { ServiceError } from "../../core/errors";

export interface MediaType {
  /** Lower-cased "type/subtype" without parameters. */
  essence: string;
  params: Map<string, string>;
}

export function parseContentType(header: string | undefined): MediaType | undefined {
  if (header === undefined || header.trim() === "") return undefined;
  const [essence, ...rest] = header.split(";");
  const params = new Map<string, string>();
  for (const p of rest) {
    const eq = p.indexOf("=");
    if (eq < 0) continue;
    let value = p.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1).replace(/\\(.)/g, "$1");
    params.set(p.slice(0, eq).trim().toLowerCase(), value);
  }
  return { essence: essence!.trim().toLowerCase(), params };
}

export const tooLarge = (limit: number, given?: number): ServiceError =>
  new ServiceError("PAYLOAD_TOO_LARGE", `request body over the ${limit}-byte limit${given !== undefined ? ` (Content-Length ${given})` : ""}`, { limit_bytes: limit });

/** Fails fast on a declared length over the limit; call before doing any other work. */
export function checkDeclaredLength(req: IncomingMessage, maxBytes: number): void {
  const declared = req.headers["content-length"];
  if (declared === undefined) return;
  const n = Number(declared);
  if (!Number.isSafeInteger(n) || n < 0) throw new ServiceError("INVALID_ARGUMENT", "Content-Length: not a byte count", { field: "Content-Length" });
  if (n > maxBytes) throw tooLarge(maxBytes, n);
}

/**
 * Feed the body to `sink` chunk by chunk. Rejects with PAYLOAD_TOO_LARGE at the limit, with whatever
 * `sink` throws, or with CANCELLED if the client goes away. On rejection the request is paused (not
 * destroyed: we still need its socket to answer); the server closes the connection after answering.
 */
export function consumeBody(req: IncomingMessage, maxBytes: number, sink: (chunk: Buffer) => void, onBytes?: (bytes: number) => void): Promise<void> {
  checkDeclaredLength(req, maxBytes);
  return new Promise<void>((resolve, reject) => {
    let received = 0;
    let settled = false;
    const finish = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
      if (err === undefined) resolve();
      else {
        req.pause();
        reject(err);
      }
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      onBytes?.(chunk.length);
      if (received > maxBytes) return finish(tooLarge(maxBytes));
      try {
        sink(chunk);
      } catch (err) {
        finish(err);
      }
    };
    const onEnd = (): void => finish();
    const onError = (): void => finish(new ServiceError("CANCELLED", "the client stopped sending the request body"));
    const onClose = (): void => {
      if (!req.complete) finish(new ServiceError("CANCELLED", "the client closed the connection while sending the body"));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
    req.resume();
  });
}

export async function readBody(req: IncomingMessage, maxBytes: number, onBytes?: (bytes: number) => void): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await consumeBody(req, maxBytes, (c) => chunks.push(c), onBytes);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}
