// `Expect: 100-continue`: curl sends it before large uploads and waits for our invitation before
// sending the body. We invite only what we mean to read: a declared size over the body limit is never
// invited (it gets its 413 before a single body byte is sent), and a routed request only once its guard
// passed (a request without a valid key gets its 401/429 before sending a byte of its body).

import type * as http from "node:http";

export class BodyInvitations {
  // Requests that sent `Expect: 100-continue` and are still waiting for our invitation to send the body.
  private readonly awaiting = new WeakMap<http.IncomingMessage, http.ServerResponse>();

  constructor(private readonly bodyBytesMax: number) {}

  /** From the server's 'checkContinue' event: remember the request unless its declared size is already too large. */
  expect(req: http.IncomingMessage, res: http.ServerResponse): void {
    const declared = Number(req.headers["content-length"]);
    if (!(declared > this.bodyBytesMax)) this.awaiting.set(req, res);
  }

  /** Invites a waiting client to send its body: only once we are about to read it (after the guard). */
  invite(req: http.IncomingMessage): void {
    const res = this.awaiting.get(req);
    if (res === undefined) return;
    this.awaiting.delete(req);
    if (!res.headersSent) res.writeContinue();
  }
}
