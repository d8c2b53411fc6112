// A job's source directory (under the jobs root): a manifest.jsonl with one
// {"name", "start", "actions"} object per line, or else one folder per row, sorted by name, holding
// start.png (or start.jpg) and actions.npy. Only the layout is read here; the service decodes and
// validates the files.
import fs from "node:fs";
import path from "node:path";
import { invalidArgument } from "../core/errors";
import { limits } from "../core/limits";
import { checkRowName, resolveUnder } from "./paths";

export interface DirRow {
  name: string;
  /** Relative to the jobs root. */
  startPath: string;
  actionsPath: string;
}

const FIELD = "source.dir";

export function listDirRows(jobsRoot: string, dir: string): DirRow[] {
  const abs = resolveUnder(jobsRoot, dir, FIELD);
  if (!isDir(abs)) throw invalidArgument(FIELD, `no such directory under the server's jobs root: ${JSON.stringify(dir.slice(0, 80))}`);
  const manifest = path.join(abs, "manifest.jsonl");
  const rows = fs.existsSync(manifest) ? manifestRows(jobsRoot, dir, manifest) : folderRows(jobsRoot, dir, abs);
  if (rows.length === 0) throw invalidArgument(FIELD, "holds no rows (no manifest.jsonl lines and no row folders)");
  if (rows.length > limits.jobRowsMax) throw invalidArgument(FIELD, `holds ${rows.length} rows; at most ${limits.jobRowsMax} per job`);
  const names = new Set<string>();
  for (const r of rows) {
    if (names.has(r.name)) throw invalidArgument(FIELD, `row name ${r.name} appears twice`);
    names.add(r.name);
  }
  return rows;
}

function manifestRows(jobsRoot: string, dir: string, manifest: string): DirRow[] {
  const stat = fs.statSync(manifest);
  if (stat.size > limits.jobManifestBytesMax) throw invalidArgument(`${FIELD}/manifest.jsonl`, `is ${stat.size} bytes; at most ${limits.jobManifestBytesMax}`);
  const lines = fs.readFileSync(manifest, "utf8").split("\n");
  const rows: DirRow[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const field = `${FIELD}/manifest.jsonl:${i + 1}`;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      throw invalidArgument(field, "not a JSON object");
    }
    const e = entry as Record<string, unknown>;
    if (typeof e !== "object" || e === null || typeof e.name !== "string" || typeof e.start !== "string" || typeof e.actions !== "string") {
      throw invalidArgument(field, 'expected {"name": "...", "start": "<image file>", "actions": "<file.npy>"}');
    }
    rows.push({ name: checkRowName(e.name, `${field}.name`), startPath: fileUnder(jobsRoot, dir, e.start, `${field}.start`), actionsPath: fileUnder(jobsRoot, dir, e.actions, `${field}.actions`) });
  });
  return rows;
}

function folderRows(jobsRoot: string, dir: string, abs: string): DirRow[] {
  const folders = fs
    .readdirSync(abs, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  if (folders.length > limits.jobRowsMax) throw invalidArgument(FIELD, `holds ${folders.length} row folders; at most ${limits.jobRowsMax} per job`);
  return folders.map((name) => {
    const field = `${FIELD}/${name}`;
    checkRowName(name, field);
    const start = ["start.png", "start.jpg", "start.jpeg"].find((f) => fs.existsSync(path.join(abs, name, f)));
    if (start === undefined) throw invalidArgument(field, "needs start.png or start.jpg");
    if (!fs.existsSync(path.join(abs, name, "actions.npy"))) throw invalidArgument(field, "needs actions.npy");
    return { name, startPath: path.join(dir, name, start), actionsPath: path.join(dir, name, "actions.npy") };
  });
}

function fileUnder(jobsRoot: string, dir: string, file: string, field: string): string {
  const rel = path.join(dir, file);
  const abs = resolveUnder(jobsRoot, rel, field);
  if (!fs.existsSync(abs) || !fs.statSync(abs).isFile()) throw invalidArgument(field, `no such file: ${JSON.stringify(file.slice(0, 80))}`);
  return rel;
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** A dir row's files, read at run time (paths were checked at create). */
export function readDirRowFiles(jobsRoot: string, row: { startPath: string; actionsPath: string }): { start: Buffer; startIsJpeg: boolean; actions: Buffer } {
  const start = fs.readFileSync(resolveUnder(jobsRoot, row.startPath, "source.dir"));
  const actions = fs.readFileSync(resolveUnder(jobsRoot, row.actionsPath, "source.dir"));
  return { start, startIsJpeg: /\.jpe?g$/i.test(row.startPath), actions };
}
