// HTTP request → the handler's request message: path parameters, query and body (JSON, or a multipart
// form for the predict variants that take media) merged per the google.api.http binding (transcode.ts).
// The body is read only here, and only after the guard passed: each reader invites a waiting
// `Expect: 100-continue` client just before it starts reading.

import type * as http from "node:http";
import { ServiceError } from "../../core/errors";
import type { Limits } from "../../core/limits";
import { consumeBody, parseContentType, readBody, type MediaType } from "./body";
import type { BodyInvitations } from "./continue";
import { CREATE_JOB, createJobFromNdjson } from "./jobs-ndjson";
import { boundaryOf, MultipartParser, type FormPart } from "./multipart";
import { formLimits, type MediaAdapter } from "./predict-extras";
import type { Route } from "./routes";
import { requestTree, toHandlerRequest } from "./transcode";

/** What reading a body needs from the server. */
export interface BodyReader {
  limits: Limits;
  invitations: BodyInvitations;
  /** Body bytes handed to a reader, as they arrive. Must not throw. */
  onBodyBytes?: (bytes: number) => void;
}

/** The whole body, bounded by limits.httpBodyBytesMax, after inviting it. */
export function readWholeBody(req: http.IncomingMessage, reader: BodyReader): Promise<Buffer> {
  reader.invitations.invite(req);
  return readBody(req, reader.limits.httpBodyBytesMax, reader.onBodyBytes);
}

async function readForm(req: http.IncomingMessage, type: MediaType, reader: BodyReader): Promise<FormPart[]> {
  const parser = new MultipartParser(boundaryOf(type.params), formLimits(reader.limits));
  reader.invitations.invite(req);
  await consumeBody(req, reader.limits.httpBodyBytesMax, (chunk) => parser.write(chunk), reader.onBodyBytes);
  return parser.end();
}

/** The handler's request message, and whether it came from a form (which makes media the default output). */
export async function readRequest(
  route: Route,
  pathParams: Map<string, string>,
  query: URLSearchParams,
  req: http.IncomingMessage,
  adapter: MediaAdapter | undefined,
  reader: BodyReader,
): Promise<{ request: unknown; form: boolean }> {
  let body: unknown;
  let form = false;
  if (route.binding.body !== undefined) {
    const type = parseContentType(req.headers["content-type"]);
    const ndjson = route.method.path === CREATE_JOB;
    const accepted = adapter ? "application/json or multipart/form-data" : ndjson ? "application/json or application/x-ndjson" : "application/json";
    if (type?.essence === "multipart/form-data" && adapter !== undefined) {
      body = adapter.fromForm(await readForm(req, type, reader));
      form = true;
    } else if (type?.essence === "application/x-ndjson" && ndjson) {
      body = createJobFromNdjson(await readWholeBody(req, reader));
    } else if (type === undefined || type.essence === "application/json" || type.essence.endsWith("+json")) {
      const charset = type?.params.get("charset")?.toLowerCase();
      if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") throw new ServiceError("UNSUPPORTED_MEDIA_TYPE", `charset ${charset} not supported; send UTF-8 JSON`);
      const raw = await readWholeBody(req, reader);
      if (raw.length > 0) {
        if (type === undefined) throw new ServiceError("UNSUPPORTED_MEDIA_TYPE", `missing Content-Type; this endpoint accepts ${accepted}`);
        body = parseJson(raw);
      }
    } else throw new ServiceError("UNSUPPORTED_MEDIA_TYPE", `Content-Type ${type.essence} not accepted here; this endpoint accepts ${accepted}`, { given: type.essence });
  }
  const tree = requestTree(route, pathParams, query, body);
  if (adapter !== undefined && !form) adapter.applyHttpDefaults(tree);
  return { request: toHandlerRequest(route, tree), form };
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString("utf8"));
  } catch (err) {
    throw new ServiceError("INVALID_ARGUMENT", `body: not valid JSON (${(err as Error).message.slice(0, 120)})`, { field: "body" });
  }
}
