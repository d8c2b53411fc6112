// Every path a job names is relative to the server's jobs root (DREAM_JOBS_DIR): a client chooses
// where under it, never where on the host. Absolute paths and `..` escapes are refused up front.
import fs from "node:fs";
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
  if (!within(base, full)) throw invalidArgument(field, "must stay under the server's jobs root");
  // A symlink inside the root must not lead out of it either: compare the real paths of the nearest
  // existing ancestor (a sink dir may not exist yet).
  const realBase = realOrUndefined(base);
  if (realBase !== undefined) {
    let probe = full;
    while (!fs.existsSync(probe) && probe !== base) probe = path.dirname(probe);
    const realProbe = realOrUndefined(probe);
    if (realProbe !== undefined && !within(realBase, realProbe)) throw invalidArgument(field, "leads out of the server's jobs root through a symbolic link");
  }
  return full;
}

function within(base: string, p: string): boolean {
  return p === base || p.startsWith(base + path.sep);
}

function realOrUndefined(p: string): string | undefined {
  try {
    return fs.realpathSync(p);
  } catch {
    return undefined;
  }
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
