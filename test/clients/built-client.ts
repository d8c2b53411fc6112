// Builds clients/typescript (its tsconfig: the package sources plus the src/gen and src/wire files they
// import) once per test process, for the tests that load or pack the package as users get it.
import { execFileSync } from "node:child_process";
import path from "node:path";

export const ROOT = path.resolve(__dirname, "..", "..");
export const PACKAGE_DIR = path.join(ROOT, "clients", "typescript");

let built: string | undefined;

/** The built package's entry point (package.json `main`), building it first if this process has not. */
export function builtClientMain(): string {
  if (!built) {
    execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", PACKAGE_DIR], { cwd: ROOT, stdio: "pipe" });
    const main = (require(path.join(PACKAGE_DIR, "package.json")) as { main: string }).main;
    built = path.join(PACKAGE_DIR, main);
  }
  return built;
}
