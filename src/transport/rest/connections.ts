// What happens to a connection whose request body we will not read (a 401/429 before the read, a 413,
// a body on a route that takes none): answer, then close it without ever buffering the rest.

import type * as http from "node:http";

/** How long an answered-but-unread upload may keep its socket while we discard the rest. */
const LINGER_MS = 2000;

export const hasBody = (req: http.IncomingMessage): boolean => req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;

/**
 * After answering without reading the whole body (a 401/429 before the read, a 413): close the
 * connection, discarding the rest for a moment. Discarding is a resume() with no reader: bytes go
 * from the socket to nowhere, never into a buffer, and after LINGER_MS the socket is destroyed
 * whatever is left, so an unauthenticated upload costs at most LINGER_MS of reading, no memory.
 */
export function closeAfterResponse(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (!hasBody(req) || req.complete || res.headersSent || res.getHeader("connection") === "close") return;
  res.setHeader("connection", "close");
  res.once("finish", () => {
    // Closing with unread bytes would make the kernel send RST, and an RST can destroy the answer
    // before the client reads it; so drain briefly, then close regardless.
    req.resume();
    setTimeout(() => req.socket.destroy(), LINGER_MS).unref();
  });
}
