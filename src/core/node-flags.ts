// Flags the server's own node process starts with: `npm start`, both Dockerfiles' CMD, the k8s
// Deployment, and every bench and test that runs the real server as a child. They must be on node's
// command line (V8 sizes its heap when the isolate is created; NODE_OPTIONS refuses this flag), so
// test/repo/deploy.test.ts checks each of those places against this list.
//
// --initial-old-space-size: with V8's default heap limits the server's old generation (~36 MB live
// under load) sat 24 MB under its limit, inside the young generation's headroom, so V8 started a new
// full mark-compact as soon as the last one ended: every ~100 ms under a bulk load, 5–30 ms of pause on
// the serving thread each, 17% of it in all, and a control loop's request waited behind them
// (bench:priority, docs/BENCHMARKS.md). A 256 MB starting limit leaves the heap at ~75 MB after GC.
export const SERVER_NODE_FLAGS: readonly string[] = ["--initial-old-space-size=256"];

/** What node runs, relative to the repository root. */
export const SERVER_ENTRY_ARGS: readonly string[] = ["--import", "tsx", "src/main.ts"];

/** The server's command line after `node`: what `npm start` runs. */
export const SERVER_NODE_ARGS: readonly string[] = [...SERVER_NODE_FLAGS, ...SERVER_ENTRY_ARGS];

/** The flags missing from this process's own command line (main.ts warns about them). */
export function missingServerNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return SERVER_NODE_FLAGS.filter((flag) => !execArgv.includes(flag));
}
