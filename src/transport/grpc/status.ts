// ServiceError → gRPC status: the code, the message, and google.rpc.Status in grpc-status-details-bin
// carrying ErrorInfo (reason, domain, details as string metadata) and RetryInfo when a retry delay applies.
import { Metadata, type StatusObject } from "@grpc/grpc-js";
import { ERROR_DOMAIN, ServiceError } from "../../core/errors";
import { Any } from "../../gen/google/protobuf/any";
import { ErrorInfo, RetryInfo } from "../../gen/google/rpc/error_details";
import { Status } from "../../gen/google/rpc/status";

export function toGrpcStatus(err: ServiceError, requestId: string): Partial<StatusObject> {
  const metadata = new Metadata();
  metadata.set("x-dreamengine-request-id", requestId);
  const info: Record<string, string> = { request_id: requestId };
  for (const [k, v] of Object.entries(err.details)) info[k] = Array.isArray(v) ? JSON.stringify(v) : String(v);
  const details = [Any.fromPartial({ typeUrl: "type.googleapis.com/google.rpc.ErrorInfo", value: ErrorInfo.encode({ reason: err.reason, domain: ERROR_DOMAIN, metadata: info }).finish() })];
  if (err.retryAfterS !== undefined) {
    const seconds = Math.ceil(err.retryAfterS);
    details.push(Any.fromPartial({ typeUrl: "type.googleapis.com/google.rpc.RetryInfo", value: RetryInfo.encode({ retryDelay: { seconds, nanos: 0 } }).finish() }));
    metadata.set("retry-after", String(Math.max(1, seconds)));
  }
  metadata.set("grpc-status-details-bin", Buffer.from(Status.encode({ code: err.code, message: err.message, details }).finish()));
  return { code: err.code as number, details: err.message, metadata };
}

/** Client side: a gRPC error's ErrorInfo (reason + metadata), if the server sent one. */
export function errorInfoOf(metadata: Metadata | undefined): ErrorInfo | undefined {
  const raw = metadata?.get("grpc-status-details-bin")[0];
  if (!raw || typeof raw === "string") return undefined;
  const status = Status.decode(raw);
  const any = status.details.find((d) => d.typeUrl.endsWith("google.rpc.ErrorInfo"));
  return any ? ErrorInfo.decode(any.value) : undefined;
}

export function retryInfoOf(metadata: Metadata | undefined): RetryInfo | undefined {
  const raw = metadata?.get("grpc-status-details-bin")[0];
  if (!raw || typeof raw === "string") return undefined;
  const any = Status.decode(raw).details.find((d) => d.typeUrl.endsWith("google.rpc.RetryInfo"));
  return any ? RetryInfo.decode(any.value) : undefined;
}
