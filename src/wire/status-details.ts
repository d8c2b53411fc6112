// google.rpc.Status in `grpc-status-details-bin`, read by clients: the ErrorInfo (reason, domain and
// details as string metadata) and the RetryInfo the server attaches (transport/grpc/status.ts writes
// them). Takes anything with grpc-js Metadata's `get`, so this module needs no grpc-js itself.
import { ErrorInfo, RetryInfo } from "../gen/google/rpc/error_details";
import { Status } from "../gen/google/rpc/status";

/** The part of grpc-js's Metadata read here. */
export interface MetadataLike {
  get(key: string): Array<string | Buffer>;
}

export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

function statusOf(metadata: MetadataLike | undefined): Status | undefined {
  const raw = metadata?.get(STATUS_DETAILS_KEY)[0];
  if (!raw || typeof raw === "string") return undefined;
  try {
    return Status.decode(raw);
  } catch {
    return undefined; // a peer that is not Dream Engine may put anything there; no details then
  }
}

/** A gRPC error's ErrorInfo (reason + metadata), if the server sent one. */
export function errorInfoOf(metadata: MetadataLike | undefined): ErrorInfo | undefined {
  const any = statusOf(metadata)?.details.find((d) => d.typeUrl.endsWith("google.rpc.ErrorInfo"));
  return any ? ErrorInfo.decode(any.value) : undefined;
}

/** A gRPC error's RetryInfo (how long to wait before retrying), if the server sent one. */
export function retryInfoOf(metadata: MetadataLike | undefined): RetryInfo | undefined {
  const any = statusOf(metadata)?.details.find((d) => d.typeUrl.endsWith("google.rpc.RetryInfo"));
  return any ? RetryInfo.decode(any.value) : undefined;
}
