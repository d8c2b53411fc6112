// The operator admin server: node:http on a Unix socket inside the data directory, so the embedded
// ledger (one process only) can be managed while the server runs. Local by construction — there is
// no TCP listener — and authorised twice: the socket file is 0600 (who may connect), and every
// request carries the 0600 token file's contents (who may act). See docs/OPERATIONS.md.
import fs from "node:fs";
import http from "node:http";
import { limits } from "../../core/limits";
import type { Logger } from "../../observability/logger";
import { adminHandler } from "./handler";
import { socketPathOf, tokenPathOf, type OperatorBilling } from "./protocol";
import { probeSocket, socketPathFits } from "./socket-probe";
import { removeToken, writeToken } from "./token";

export interface AdminServer {
  /** Where it listens; undefined when it does not (disabled, unsupported, or another server has it). */
  socketPath: string | undefined;
  close(): Promise<void>;
}

const notServing: AdminServer = { socketPath: undefined, close: async () => undefined };

/**
 * Starts the admin socket, or logs why not and returns a handle that does nothing: the inference
 * server is worth running without it (the CLI then says the data dir is busy, as before).
 */
export async function startAdminServer(dataDir: string, billing: OperatorBilling, logger: Logger): Promise<AdminServer> {
  const socketPath = socketPathOf(dataDir);
  if (process.platform === "win32") return skip(logger, socketPath, "Unix sockets are not served on Windows; stop the server to use the CLI, or use DATABASE_URL");
  if (!socketPathFits(socketPath)) return skip(logger, socketPath, `the path is over ${limits.adminSocketPathBytesMax} bytes; use a shorter DREAM_DATA_DIR`);
  try {
    const state = await probeSocket(socketPath);
    // Another process on this data dir (possible with DATABASE_URL) keeps its socket and its token.
    if (state === "live") return skip(logger, socketPath, "another server already answers on it");
    if (state === "stale") fs.rmSync(socketPath, { force: true }); // left by a crash
    return await listen(socketPath, tokenPathOf(dataDir), billing, logger);
  } catch (err) {
    return skip(logger, socketPath, String(err));
  }
}

function skip(logger: Logger, socketPath: string, why: string): AdminServer {
  logger.warn({ socketPath, why }, "operator admin socket not served");
  return notServing;
}

async function listen(socketPath: string, tokenPath: string, billing: OperatorBilling, logger: Logger): Promise<AdminServer> {
  const token = writeToken(tokenPath);
  const server = http.createServer({ maxHeaderSize: limits.httpHeaderBytesMax }, adminHandler({ billing, token, logger }));
  // Bound under a private name, made 0600, then renamed into place: the well-known path never
  // exists with the umask's wider mode, and rename is atomic.
  const bindPath = `${socketPath}.${process.pid}.tmp`;
  fs.rmSync(bindPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(bindPath, () => resolve());
  }).catch((err: unknown) => {
    removeToken(tokenPath, token);
    throw err;
  });
  fs.chmodSync(bindPath, 0o600);
  fs.renameSync(bindPath, socketPath);
  const inode = fs.statSync(socketPath).ino;
  // A crash skips close(); removing the files at exit still spares the next start the stale check.
  const removeFiles = (): void => {
    try {
      removeToken(tokenPath, token);
      if (fs.statSync(socketPath, { throwIfNoEntry: false })?.ino === inode) fs.rmSync(socketPath, { force: true });
    } catch (err) {
      // At exit nothing can be done about it, and the next start replaces a stale socket anyway.
      logger.warn({ socketPath, err: String(err) }, "could not remove the operator admin socket or token");
    }
  };
  process.once("exit", removeFiles);
  logger.info({ socketPath }, "operator admin socket listening");
  let closing: Promise<void> | undefined;
  return {
    socketPath,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        process.off("exit", removeFiles);
        removeFiles(); // first: a CLI started now goes direct instead of to a closing server
        server.close(() => resolve());
        server.closeIdleConnections();
      })),
  };
}
