// Every path a job names is relative to the server's jobs root (DREAM_JOBS_DIR): a client chooses
// where under it, never where on the host. Absolute paths and `..` escapes are refused up front.
import path from "node:path";
import { invalidArgument } from "../core/errors";

/** `rel` resolved under `root`, or INVALID_ARGUMENT naming `field`. */
export function resolveUnder(root: string, rel: string, field: string): string {
  if (rel.trim() === "") throw invalidArgument(field, "required: a directory relative to the server's jobs root");
  if (rel.includes("\u0000")) throw invalidArgument(field, "must not contain NUL");
  if (path.isAbsolute(rel) || path.win32.isAbsolute(rel)) throw invalidArgument(field, `must be relative to the server's jobs root, got an absolute path`);
  if (rel.split(/[\\/]+/).includes("..")) throw invalidArgument(field, "must not contain '..': paths stay under the server's jobs root");
  const base = path.resolve(root);
  const full = path.resolve(base, rel);
  if (full !== base && !full.startsWith(base + path.sep)) throw invalidArgument(field, "must stay under the server's jobs root");
  return full;
}

const ROW_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Row names become sink file names: a safe alphabet, no separators, no leading dot. */
export function checkRowName(name: string, field: string): string {
  if (!ROW_NAME.test(name)) throw invalidArgument(field, `must be 1-128 characters of [A-Za-z0-9._-] starting with a letter or digit, got ${JSON.stringify(name.slice(0, 80))}`);
  return name;
}

/** The default name of row `index`: zero-padded so that names sort like indices. */
export function defaultRowName(index: number): string {
  return String(index).padStart(6, "0");
}
