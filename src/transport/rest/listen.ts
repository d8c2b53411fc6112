// Binding and stopping the node:http server: the address forms the CLI and tests pass, the address it
// reports back, and a graceful close that cannot hang forever.

import type * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { ListenAddress } from "./options";

const CLOSE_FORCE_MS = 10_000;

export type ListenSpec = number | string | { host?: string; port?: number } | undefined;

/** `port`, "host:port" (IPv6 in brackets) or {host, port}; host defaults to 127.0.0.1, port to 0. */
export function parseListenAddress(addr: ListenSpec): { host: string; port: number } {
  if (addr === undefined) return { host: "127.0.0.1", port: 0 };
  if (typeof addr === "number") return { host: "127.0.0.1", port: addr };
  if (typeof addr === "object") return { host: addr.host ?? "127.0.0.1", port: addr.port ?? 0 };
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (m) return { host: m[1] ?? (m[2] || "127.0.0.1"), port: Number(m[3]) };
  if (/^\d+$/.test(addr)) return { host: "127.0.0.1", port: Number(addr) };
  throw new Error(`listen address must be port, "host:port" or {host, port}; got ${JSON.stringify(addr)}`);
}

/** Resolves with the bound port. */
export function listenOn(server: http.Server, addr: ListenSpec): Promise<number> {
  const { host, port } = parseListenAddress(addr);
  return new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export function addressOf(server: http.Server): ListenAddress | undefined {
  const a = server.address();
  if (a === null || typeof a === "string") return undefined;
  const shownHost = a.family === "IPv6" ? `[${a.address}]` : a.address;
  return { host: a.address, port: a.port, url: `http://${shownHost}:${a.port}` };
}

/** Stop accepting, close idle connections, let in-flight requests finish (forced after CLOSE_FORCE_MS). */
export function closeServer(server: http.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!server.listening) return resolve();
    const force = setTimeout(() => server.closeAllConnections(), CLOSE_FORCE_MS);
    force.unref();
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}
