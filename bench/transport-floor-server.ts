// The transport floor's server (bench/transport-floor.ts): a grpc-js server in its own process, like
// the engine's, with one unary method that ignores its request and answers with as many bytes as the
// request's first four bytes ask for (identity serializers: no protobuf, no engine, no billing).
import * as grpc from "@grpc/grpc-js";
import { ECHO_METHOD, echoChannelOptions } from "./transport-floor";

const responses = new Map<number, Buffer>();
const server = new grpc.Server(echoChannelOptions);
server.addService(ECHO_METHOD, {
  echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
    const bytes = call.request.readUInt32LE(0);
    let out = responses.get(bytes);
    if (out === undefined) responses.set(bytes, (out = Buffer.alloc(bytes, 7)));
    callback(null, out);
  },
});
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(`${port}\n`);
});
process.on("SIGTERM", () => server.forceShutdown());
