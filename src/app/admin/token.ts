// The operator token: 32 random bytes (hex) in <dataDir>/admin.token, mode 0600, new at every start.
// The socket's own 0600 mode already limits who can connect; the token is the second lock, so a
// socket made reachable by a permissive umask, a bind mount or a copied data dir still admits no one
// who cannot read the server's data directory.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import fs from "node:fs";

const TOKEN_BYTES = 32;

/** Writes a fresh token (never reusing an old file, whose mode may be wider) and returns it. */
export function writeToken(file: string): string {
  const token = randomBytes(TOKEN_BYTES).toString("hex");
  fs.rmSync(file, { force: true });
  // "wx": created here, so the 0600 mode applies (open() keeps an existing file's mode).
  fs.writeFileSync(file, `${token}\n`, { mode: 0o600, flag: "wx" });
  return token;
}

/** The token in `file`, or undefined when there is none (no server, or one that is shutting down). */
export function readToken(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Removes the token file if it still holds `token` (a later server may have written its own). */
export function removeToken(file: string, token: string): void {
  if (readToken(file) === token) fs.rmSync(file, { force: true });
}

/**
 * Whether an Authorization header carries `token`. Both sides are hashed first, so the comparison is
 * timing-safe whatever the presented length (timingSafeEqual needs equal lengths).
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const presented = /^Bearer (\S+)$/.exec(header ?? "")?.[1] ?? "";
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(presented), digest(token)) && presented.length > 0;
}
