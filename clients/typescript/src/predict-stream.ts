// A StreamPredict call as the caller holds it: ServerStream (server-stream.ts: retried only before
// its first message, cancel(), raw messages) yielding StreamEvents.
import type { StreamPredictResponse } from "../../../src/gen/dream/v1/dream";
import { ServerStream, type ServerStreamDriver } from "./server-stream";
import { eventOf, type StreamEvent } from "./stream-events";

export type StreamDriver = ServerStreamDriver<StreamPredictResponse>;

export class PredictStream extends ServerStream<StreamPredictResponse, StreamEvent> {
  constructor(driver: StreamDriver) {
    super(driver, eventOf);
  }
}
