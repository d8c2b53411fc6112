// Is anyone listening on a Unix socket file? A crashed server leaves its socket file behind, and the
// file alone says nothing: only a connection tells a live server from a stale file. The server asks
// before replacing the file, the CLI before choosing between the server and the ledger itself.
import fs from "node:fs";
import net from "node:net";
import { limits } from "../../core/limits";

export type SocketState = "absent" | "stale" | "live";

/** Errors that mean nothing listens there (as opposed to one that refuses us, like EACCES). */
const NOBODY = new Set(["ECONNREFUSED", "ENOENT", "ENOTSOCK"]);

export async function probeSocket(file: string): Promise<SocketState> {
  if (!fs.existsSync(file)) return "absent";
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path: file });
    // A live server accepts at once; a full accept queue that long is a server too busy to rely on.
    socket.setTimeout(limits.adminConnectMsMax, () => socket.destroy(new Error(`no answer on ${file} within ${limits.adminConnectMsMax} ms`)));
    socket.once("connect", () => {
      socket.destroy();
      resolve("live");
    });
    socket.once("error", (err: NodeJS.ErrnoException) => (NOBODY.has(err.code ?? "") ? resolve("stale") : reject(err)));
  });
}

/** The longest socket path every platform binds (sun_path is 104 bytes on macOS, 108 on Linux). */
export function socketPathFits(file: string): boolean {
  return Buffer.byteLength(file) <= limits.adminSocketPathBytesMax;
}
