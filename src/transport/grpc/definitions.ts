// What this transport changes in the generated service definitions before registering them: the
// frame-heavy responses get single-allocation encoders, and every request deserializer becomes one
// that never throws (so a bad message is the caller's INVALID_ARGUMENT, not grpc-js's INTERNAL).
import type * as grpc from "@grpc/grpc-js";
import type * as protobuf from "protobufjs";
import type { ServiceError } from "../../core/errors";
import { ModelsService } from "../../gen/dream/v1/dream";
import { requestDecodeError } from "../request-decode";
import { encodePredictBatchResponse, encodePredictResponse, encodeStreamPredictResponse } from "./fast-encode";

export type AnyDefinition = Record<string, grpc.MethodDefinition<any, any>>;

/** The frame-heavy responses use single-allocation encoders (see fast-encode.ts). */
export function withFastEncoders<D extends AnyDefinition>(def: D): D {
  const out: AnyDefinition = { ...def };
  if (def === (ModelsService as unknown as D)) {
    out.predict = { ...out.predict!, responseSerialize: encodePredictResponse };
    out.predictBatch = { ...out.predictBatch!, responseSerialize: encodePredictBatchResponse };
    out.streamPredict = { ...out.streamPredict!, responseSerialize: encodeStreamPredictResponse };
  }
  return out as D;
}

/**
 * A request grpc-js could not deserialize. grpc-js answers INTERNAL ("Error deserializing request")
 * when a deserializer throws, so ours never throws: it hands the handler adapter this instead, and the
 * adapter answers INVALID_ARGUMENT through the same path as every other error.
 */
export class UndecodableRequest {
  constructor(readonly error: ServiceError) {}
}

/** Request deserializers that turn a decode failure into an UndecodableRequest with the field named. */
export function withTolerantDecoders<D extends AnyDefinition>(def: D, root: protobuf.Root): D {
  const out: AnyDefinition = {};
  for (const [name, md] of Object.entries(def)) {
    const [, service, method] = /^\/(.+)\/([^/]+)$/.exec(md.path)!;
    const type = root.lookupService(service!).methods[method!]!.resolvedRequestType!;
    const decode = md.requestDeserialize;
    out[name] = {
      ...md,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return decode(bytes);
        } catch (err) {
          return new UndecodableRequest(requestDecodeError(type, bytes, err));
        }
      },
    };
  }
  return out as D;
}

/** Wraps handlers written without our adapter (grpc.health.v1) so an UndecodableRequest is answered, not handled. */
export function refusingUndecodable(impl: grpc.UntypedServiceImplementation, status: (err: ServiceError) => Partial<grpc.StatusObject>): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, fn] of Object.entries(impl)) {
    out[name] = ((call: { request?: unknown; emit(event: string, err: Error): void }, callback?: grpc.sendUnaryData<unknown>) => {
      if (!(call.request instanceof UndecodableRequest)) return (fn as (c: unknown, cb?: unknown) => void)(call, callback);
      const s = status(call.request.error);
      if (callback !== undefined) callback(s as grpc.ServiceError);
      else call.emit("error", Object.assign(new Error(s.details), s));
    }) as grpc.UntypedHandleCall;
  }
  return out;
}

/** The handler's request, or the decode error to answer with. */
export const requestOf = (request: unknown): Promise<unknown> => (request instanceof UndecodableRequest ? Promise.reject(request.error) : Promise.resolve(request));
