// PGlite keeps its database in a directory that only one process may open. A pid lock file turns a
// second opener (the CLI while the server runs, or two servers) into a clear message instead of
// silent corruption. A lock left by a dead process is taken over.
import fs from "node:fs";
import path from "node:path";

export class DataDirBusyError extends Error {
  override name = "DataDirBusyError";
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(
      `the embedded ledger at ${dir} is open in another process (pid ${pid}), probably a running Dream Engine server. ` +
        `Stop that process and run this command again, or point both at a Postgres server with DATABASE_URL.`,
    );
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export interface DirLock {
  release(): void;
}

export function lockDataDir(dir: string): DirLock {
  // Beside the directory, not inside it: Postgres owns the directory's contents.
  fs.mkdirSync(path.dirname(path.resolve(dir)), { recursive: true });
  const file = `${path.resolve(dir)}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, "wx", 0o600);
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        // A process that opens and closes ledgers (the test suite, a supervisor) must not pile up
        // one exit listener per lock it ever held.
        process.off("exit", release);
        try {
          if (fs.readFileSync(file, "utf8").trim() === String(process.pid)) fs.unlinkSync(file);
        } catch {
          // already gone
        }
      };
      process.once("exit", release);
      return { release };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const owner = Number.parseInt(fs.readFileSync(file, "utf8").trim(), 10);
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) throw new DataDirBusyError(dir, owner);
      if (owner === process.pid) throw new DataDirBusyError(dir, owner);
      fs.unlinkSync(file); // stale: its owner is gone
    }
  }
  throw new Error(`could not lock ${dir}`);
}
