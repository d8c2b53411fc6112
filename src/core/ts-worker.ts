// Starts a worker thread on a sibling module, under tsx or compiled alike.
import { join } from "node:path";
import { Worker, type WorkerOptions } from "node:worker_threads";

/**
 * `new Worker` on `<dir>/<name>.ts` or `.js`. Under tsx (tests, `npm start`) the module is TypeScript:
 * tsx's CommonJS hook is registered inside the thread first. Compiled, the sibling .js runs as is.
 */
export function startModuleWorker(dir: string, name: string, options: WorkerOptions = {}): Worker {
  if (__filename.endsWith(".ts")) {
    const code = `require(${JSON.stringify(require.resolve("tsx/cjs"))}); require(${JSON.stringify(join(dir, `${name}.ts`))});`;
    return new Worker(code, { ...options, eval: true });
  }
  return new Worker(join(dir, `${name}.js`), options);
}
