// The bulk work bench:priority runs beside a control loop: closed-loop PredictBatch calls at a given
// priority, or one durable job (Jobs.CreateJob with uploaded rows, cancelled at the end of the phase).
// frames() counts frames generated so far, for the bulk work's frames/s.
import path from "node:path";
import { Worker } from "node:worker_threads";
import type { DreamClient } from "../clients/typescript/src";
import { Priority, type Actions, type Frame } from "../src/gen/dream/v1/dream";
import type { ServerProcess } from "./lib";

export interface BulkLoad {
  frames(): number;
  stop(): Promise<void>;
}

export interface BulkLoadOptions {
  kind: "predicts" | "job";
  client: DreamClient;
  server: ServerProcess;
  request: { model: string; startFrame: Frame; candidates: Actions[]; params: { numSteps: number; seed: number } };
  priority: Priority;
  concurrency: number;
  framesPerRequest: number;
  /** The job's sink encoding (JobSink: MP4 files, JPEG/PNG frames, or RAW_RGB8 .npy). */
  jobOutput: "MP4" | "JPEG" | "PNG" | "RAW_RGB8";
  /** Niceness of the predicts load's client thread (0: none). */
  clientNiceness: number;
}

/** Starts the load and resolves once it generates frames (a job takes a moment to claim its first rows). */
export async function bulkLoad(o: BulkLoadOptions): Promise<BulkLoad> {
  const load = o.kind === "job" ? await jobLoad(o) : predictLoad(o);
  const deadline = performance.now() + 30_000;
  while (load.frames() === 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return load;
}

/** Closed-loop PredictBatch calls at `priority`, on a worker thread (bench/priority-load-worker.ts). */
function predictLoad(o: BulkLoadOptions): BulkLoad {
  let frames = 0;
  const init = { address: o.server.grpcAddress, apiKey: o.server.apiKey, request: o.request, priority: o.priority, concurrency: o.concurrency, framesPerRequest: o.framesPerRequest, niceness: o.clientNiceness };
  const code = `require(${JSON.stringify(require.resolve("tsx/cjs"))}); require(${JSON.stringify(path.join(__dirname, "priority-load-worker.ts"))});`;
  const worker = new Worker(code, { eval: true, workerData: init });
  const stopped = new Promise<void>((resolve) => {
    worker.on("message", (msg: { frames?: number; stopped?: boolean }) => {
      if (msg.frames !== undefined) frames += msg.frames;
      if (msg.stopped) resolve();
    });
    worker.on("error", (err) => {
      process.stderr.write(`bulk load worker failed: ${String(err)}\n`);
      resolve();
    });
  });
  return {
    frames: () => frames,
    async stop() {
      worker.postMessage("stop");
      await stopped;
      await worker.terminate();
    },
  };
}

/** One job of many uploaded rows over REST; frames() polls the job's count (refreshed every 200 ms). */
async function jobLoad(o: BulkLoadOptions): Promise<BulkLoad> {
  const headers = { authorization: `Bearer ${o.server.apiKey}`, "content-type": "application/json" };
  // 300 single-candidate rows (~33 MB of JSON: under limits.httpBodyBytesMax) outlast a phase.
  const rows = Array.from({ length: 300 }, (_, i) => ({
    name: String(i).padStart(6, "0"),
    startFrame: { encoding: "RAW_RGB8", data: Buffer.from(o.request.startFrame.data).toString("base64"), height: o.request.startFrame.height, width: o.request.startFrame.width },
    actions: { data: Buffer.from(o.request.candidates[i % o.request.candidates.length]!.data).toString("base64"), shape: o.request.candidates[0]!.shape },
    // (one candidate per row: a row of K would upload K action arrays)
  }));
  const body = { model: o.request.model, source: { rows: { rows } }, sink: { dir: `bench-priority-${Date.now()}` }, params: o.request.params, output: { encoding: o.jobOutput }, priority: o.priority === Priority.INTERACTIVE ? "INTERACTIVE" : "BATCH" };
  const res = await fetch(`${o.server.httpBase}/v1/jobs`, { method: "POST", headers, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`CreateJob: ${res.status} ${await res.text()}`);
  const job = (await res.json()) as { job_id: string };
  let frames = 0;
  const poll = setInterval(() => {
    void fetch(`${o.server.httpBase}/v1/jobs/${job.job_id}`, { headers })
      .then((r) => r.json() as Promise<{ frames?: string | number }>)
      .then((j) => (frames = Number(j.frames ?? 0)))
      .catch(() => undefined);
  }, 200);
  return {
    frames: () => frames,
    async stop() {
      clearInterval(poll);
      const res = await fetch(`${o.server.httpBase}/v1/jobs/${job.job_id}:cancel`, { method: "POST", headers, body: "{}" });
      if (!res.ok) throw new Error(`CancelJob: ${res.status} ${await res.text()}`);
    },
  };
}
