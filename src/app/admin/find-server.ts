// Which way the CLI goes: to a server running on this data dir (its admin socket answers), or to the
// ledger itself (no socket, or a stale one left by a crash — then nobody holds the ledger either).
import { ServiceError } from "../../core/errors";
import { AdminClient } from "./client";
import { socketPathOf, tokenPathOf } from "./protocol";
import { probeSocket, socketPathFits } from "./socket-probe";
import { readToken } from "./token";

const permissionDenied = (what: string, dataDir: string) =>
  new ServiceError("PERMISSION_DENIED", `a server is running on ${dataDir}, but this user may not ${what}; run the CLI as the server's user`);

export async function findRunningServer(dataDir: string): Promise<AdminClient | undefined> {
  const socketPath = socketPathOf(dataDir);
  if (!socketPathFits(socketPath)) return undefined; // the server could not have bound it either
  const state = await probeSocket(socketPath).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "EACCES") throw permissionDenied(`connect to ${socketPath}`, dataDir);
    throw err;
  });
  if (state !== "live") return undefined;
  let token: string | undefined;
  try {
    token = readToken(tokenPathOf(dataDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EACCES") throw permissionDenied(`read ${tokenPathOf(dataDir)}`, dataDir);
    throw err;
  }
  // The server removes its token first when it stops: no token means it is on its way out.
  return token === undefined ? undefined : new AdminClient(socketPath, token);
}
