// The transport's own floor for a served call: grpc-js moving the same number of bytes each way between
// two processes on this machine, with nothing else (bench/transport-floor-server.ts answers from a
// cached buffer through identity serializers). bench:overhead measures it interleaved with its reps, so
// "served - direct - floor" is what the engine adds beyond what any grpc-js server would pay to move
// that request and response, on the same machine, under the same load.
import * as grpc from "@grpc/grpc-js";
import { spawn } from "node:child_process";
import path from "node:path";
import { limits } from "../src/core/limits";
import { ROOT } from "./lib";

const identity = (b: Buffer): Buffer => b;

export const ECHO_METHOD: grpc.ServiceDefinition = {
  echo: {
    path: "/bench.TransportFloor/Echo",
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

/** The engine's message size bounds, so the floor is allowed what a served call is. */
export const echoChannelOptions = {
  "grpc.max_receive_message_length": limits.grpcSendBytesMax,
  "grpc.max_send_message_length": limits.grpcSendBytesMax,
};

export interface TransportFloor {
  /** One call moving requestBytes up and responseBytes down; resolves with its wall time in ms. */
  call(requestBytes: number, responseBytes: number): Promise<number>;
  stop(): void;
}

export async function startTransportFloor(): Promise<TransportFloor> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bench", "transport-floor-server.ts")], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`transport floor server exited (${code}) before listening`)));
    child.stdout!.once("data", (d: Buffer) => resolve(Number(String(d).trim())));
  });
  const Client = grpc.makeGenericClientConstructor(ECHO_METHOD, "TransportFloor");
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), echoChannelOptions) as unknown as {
    echo(req: Buffer, cb: (err: grpc.ServiceError | null, res: Buffer) => void): void;
    close(): void;
  };
  const requests = new Map<number, Buffer>();
  return {
    call(requestBytes, responseBytes) {
      let req = requests.get(requestBytes);
      if (req === undefined) requests.set(requestBytes, (req = Buffer.alloc(Math.max(4, requestBytes), 3)));
      req.writeUInt32LE(responseBytes, 0);
      const t0 = performance.now();
      return new Promise((resolve, reject) =>
        client.echo(req!, (err, res) => {
          if (err) return reject(err);
          if (res.length !== responseBytes) return reject(new Error(`transport floor answered ${res.length} bytes, asked ${responseBytes}`));
          resolve(performance.now() - t0);
        }),
      );
    },
    stop() {
      client.close();
      child.kill("SIGTERM");
    },
  };
}
