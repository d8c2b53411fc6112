// bench:priority's closed-loop bulk predicts, on a thread of their own: decoding 3.6 MB raw responses
// on the control loop's event loop would delay the loop's own replies and charge that to the server.
import os from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import { DreamClient } from "../clients/typescript/src";
import type { Actions, Frame, Priority } from "../src/gen/dream/v1/dream";

interface Init {
  address: string;
  apiKey: string;
  request: { model: string; startFrame: Frame; candidates: Actions[]; params: { numSteps: number; seed: number } };
  priority: Priority;
  concurrency: number;
  framesPerRequest: number;
  /** This thread's niceness (Linux: setpriority on the calling thread only); 0 leaves it as is. */
  niceness: number;
}

const init = workerData as Init;
// The bulk client stands in for a batch user on another machine. Here it shares the server's two
// cores, decoding ~65 MB/s of raw frames; niced, it takes only cores the server leaves idle.
if (init.niceness > 0) os.setPriority(0, init.niceness);
const client = new DreamClient({ address: init.address, apiKey: init.apiKey, retries: 0 });
const controller = new AbortController();
let running = true;

async function worker(): Promise<void> {
  while (running) {
    try {
      await client.predictBatch({ ...init.request, priority: init.priority }, { signal: controller.signal });
      parentPort!.postMessage({ frames: init.framesPerRequest });
    } catch (err) {
      if (!running) return;
      throw err;
    }
  }
}

const workers = Array.from({ length: init.concurrency }, () => worker());
parentPort!.on("message", (msg: unknown) => {
  if (msg !== "stop") return;
  running = false;
  controller.abort();
  void Promise.allSettled(workers).then(() => {
    client.close();
    parentPort!.postMessage({ stopped: true });
  });
});
