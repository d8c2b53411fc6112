// POST /v1/jobs with Content-Type: application/x-ndjson: the first line is the CreateJobRequest JSON
// without rows, every further line one JobRow JSON (frame and action bytes base64, as proto3 JSON
// says). It becomes the same proto-JSON tree as a JSON body with source.rows, so validation and the
// handler are shared; a client can stream thousands of rows without building one huge JSON document.
import { invalidArgument } from "../../core/errors";
import { limits } from "../../core/limits";

export const CREATE_JOB = "/dream.v1.Jobs/CreateJob";

export function createJobFromNdjson(raw: Buffer): Record<string, unknown> {
  const lines = raw.toString("utf8").split("\n");
  let head: Record<string, unknown> | undefined;
  const rows: unknown[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    const value = parseLine(line, i + 1);
    if (head === undefined) {
      if ("source" in value) throw invalidArgument("source", "NDJSON uploads carry their rows as the lines after the first; leave source out of the first line");
      head = value;
      continue;
    }
    if (rows.length >= limits.jobRowsMax) throw invalidArgument("source.rows", `more than ${limits.jobRowsMax} rows; at most ${limits.jobRowsMax} per job`);
    rows.push(value);
  }
  if (head === undefined) throw invalidArgument("body", "empty NDJSON body: the first line is the CreateJobRequest, every further line one JobRow");
  return { ...head, source: { rows: { rows } } };
}

function parseLine(line: string, lineNo: number): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    throw invalidArgument(`body line ${lineNo}`, `not valid JSON (${(err as Error).message.slice(0, 120)})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalidArgument(`body line ${lineNo}`, "expected a JSON object");
  return value as Record<string, unknown>;
}
