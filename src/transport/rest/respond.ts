// Writing successful responses: JSON bodies, and newline-delimited JSON for server-streaming RPCs.

import type { ServerResponse } from "node:http";
import { ServiceError } from "../../core/errors";
import { errorBody } from "./errors";

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const payload = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { ...headers, "content-type": "application/json; charset=utf-8", "content-length": String(payload.length) });
  res.end(payload);
}

/**
 * One JSON object per line, written as the handler produces messages. `send` resolves once the line
 * is in the socket's buffer below its high-water mark, so a slow reader slows the handler down
 * (the handler contract: it awaits send). After the client goes away `send` rejects with CANCELLED.
 */
export class NdjsonWriter {
  private started = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly headers: () => Record<string, string>,
  ) {}

  get hasStarted(): boolean {
    return this.started;
  }

  async write(value: unknown): Promise<void> {
    if (this.res.destroyed) throw new ServiceError("CANCELLED", "the client closed the connection");
    if (!this.started) {
      // Headers go out with the first line, so handlers can still set response headers before it.
      this.res.writeHead(200, { ...this.headers(), "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" });
      this.started = true;
    }
    if (!this.res.write(JSON.stringify(value) + "\n")) await drained(this.res);
    if (this.res.destroyed) throw new ServiceError("CANCELLED", "the client closed the connection");
  }

  end(): void {
    if (!this.started) {
      this.res.writeHead(200, { ...this.headers(), "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-store" });
      this.started = true;
    }
    this.res.end();
  }

  /** An error after the first line cannot change the status any more: it becomes the last line. */
  fail(err: ServiceError, requestId: string): void {
    if (this.res.destroyed) return;
    this.res.end(JSON.stringify(errorBody(err, requestId)) + "\n");
  }
}

// A body already in memory goes to the socket in slices this big: each write holds a reference, not a
// copy, and waiting for 'drain' between slices keeps at most one slice queued above the socket buffer.
const BODY_SLICE_BYTES = 16 * 1024 * 1024;

/** A known-length body written slice by slice with backpressure (a gone client ends it early). */
export async function writeBody(res: ServerResponse, status: number, headers: Record<string, string>, body: Uint8Array): Promise<void> {
  res.writeHead(status, headers);
  for (let at = 0; at < body.byteLength; at += BODY_SLICE_BYTES) {
    if (res.destroyed) return;
    if (!res.write(body.subarray(at, Math.min(at + BODY_SLICE_BYTES, body.byteLength)))) await drained(res);
  }
  res.end();
}

/** Resolves on 'drain' or when the response closes (a gone client must not hang the writer). */
export function drained(res: ServerResponse): Promise<void> {
  if (res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}
