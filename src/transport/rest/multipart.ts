// multipart/form-data in (RFC 7578), multipart/mixed out (RFC 2046). Our own small parser instead of
// a dependency: it is fed chunks as they arrive, so the part count, header size and per-part size
// limits stop a bad upload early instead of after it has been buffered.

import { randomBytes } from "node:crypto";
import { invalidArgument, ServiceError } from "../../core/errors";

export interface FormPart {
  name: string;
  filename: string | undefined;
  contentType: string | undefined;
  data: Buffer;
}

export interface MultipartLimits {
  partsMax: number;
  headerBytesMax: number;
  /** Max bytes of one part's content, by part name and whether it is a file. */
  partBytesMax: (name: string, isFile: boolean) => number;
}

const CRLF = Buffer.from("\r\n");
const HEADER_END = Buffer.from("\r\n\r\n");
const TOKEN = /^[0-9A-Za-z'()+_,\-./:=? ]{1,70}$/; // RFC 2046 bchars

const malformed = (why: string): ServiceError => invalidArgument("multipart", why);

export function boundaryOf(params: Map<string, string>): string {
  const boundary = params.get("boundary");
  if (boundary === undefined) throw malformed("Content-Type has no boundary parameter");
  if (!TOKEN.test(boundary) || boundary.endsWith(" ")) throw malformed("boundary must be 1-70 characters from the RFC 2046 set");
  return boundary;
}

type State = "preamble" | "after-delimiter" | "headers" | "body" | "done";

export class MultipartParser {
  readonly parts: FormPart[] = [];
  private readonly delimiter: Buffer;
  private pending: Buffer;
  private state: State = "preamble";
  private current: { name: string; filename: string | undefined; contentType: string | undefined; chunks: Buffer[]; bytes: number; max: number } | undefined;

  constructor(
    boundary: string,
    private readonly limits: MultipartLimits,
  ) {
    this.delimiter = Buffer.from(`\r\n--${boundary}`);
    // A virtual CRLF lets the first delimiter be found by the same search as every later one.
    this.pending = Buffer.from(CRLF);
  }

  write(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      if (!this.step()) return;
    }
  }

  /** The parts, once the closing delimiter has been seen. */
  end(): FormPart[] {
    if (this.state !== "done") throw malformed(this.state === "preamble" ? "no part found (is the boundary right?)" : "body ended before the closing boundary");
    return this.parts;
  }

  /** One transition; false when more input is needed. */
  private step(): boolean {
    switch (this.state) {
      case "preamble": {
        const at = this.pending.indexOf(this.delimiter);
        if (at < 0) {
          // Keep only what could still be the start of a delimiter.
          this.pending = this.pending.subarray(Math.max(0, this.pending.length - this.delimiter.length + 1));
          return false;
        }
        this.pending = this.pending.subarray(at + this.delimiter.length);
        this.state = "after-delimiter";
        return true;
      }
      case "after-delimiter": {
        // "--" closes the body; otherwise optional linear whitespace then CRLF starts a part.
        if (this.pending.length < 2) return false;
        if (this.pending[0] === 0x2d && this.pending[1] === 0x2d) {
          this.state = "done";
          this.pending = Buffer.alloc(0);
          return false;
        }
        const eol = this.pending.indexOf(CRLF);
        if (eol < 0) {
          if (this.pending.length > 256) throw malformed("garbage after a boundary");
          return false;
        }
        if (this.pending.subarray(0, eol).toString("latin1").trim() !== "") throw malformed("garbage after a boundary");
        this.pending = this.pending.subarray(eol + 2);
        if (this.parts.length >= this.limits.partsMax) throw malformed(`more than ${this.limits.partsMax} parts`);
        this.state = "headers";
        return true;
      }
      case "headers": {
        // A part with no headers at all starts with the blank line directly.
        const blank = this.pending.subarray(0, 2).equals(CRLF) ? -2 : this.pending.indexOf(HEADER_END);
        if (blank === -1) {
          if (this.pending.length > this.limits.headerBytesMax) throw malformed(`part headers over ${this.limits.headerBytesMax} bytes`);
          return false;
        }
        if (blank > this.limits.headerBytesMax) throw malformed(`part headers over ${this.limits.headerBytesMax} bytes`);
        const text = blank === -2 ? "" : this.pending.subarray(0, blank).toString("utf8");
        this.pending = this.pending.subarray(blank === -2 ? 2 : blank + 4);
        this.current = this.startPart(text);
        this.state = "body";
        return true;
      }
      case "body": {
        const part = this.current!;
        const at = this.pending.indexOf(this.delimiter);
        const take = at >= 0 ? at : Math.max(0, this.pending.length - this.delimiter.length + 1);
        if (take > 0) {
          part.bytes += take;
          if (part.bytes > part.max) throw new ServiceError("PAYLOAD_TOO_LARGE", `part ${part.name}: over the ${part.max}-byte limit`, { field: part.name, limit_bytes: part.max });
          // Copy: the chunk buffers belong to the socket and the part outlives them.
          part.chunks.push(Buffer.from(this.pending.subarray(0, take)));
        }
        if (at < 0) {
          this.pending = this.pending.subarray(take);
          return false;
        }
        this.parts.push({ name: part.name, filename: part.filename, contentType: part.contentType, data: part.chunks.length === 1 ? part.chunks[0]! : Buffer.concat(part.chunks) });
        this.current = undefined;
        this.pending = this.pending.subarray(at + this.delimiter.length);
        this.state = "after-delimiter";
        return true;
      }
      case "done":
        this.pending = Buffer.alloc(0); // the epilogue is ignored (RFC 2046)
        return false;
    }
  }

  private startPart(headerText: string): NonNullable<MultipartParser["current"]> {
    const headers = new Map<string, string>();
    for (const line of headerText.split("\r\n")) {
      if (line === "") continue;
      const colon = line.indexOf(":");
      if (colon <= 0) throw malformed(`bad part header line ${JSON.stringify(line.slice(0, 80))}`);
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const disposition = headers.get("content-disposition");
    if (disposition === undefined) throw malformed(`part ${this.parts.length + 1} has no Content-Disposition header`);
    const params = dispositionParams(disposition);
    if (params.type !== "form-data") throw malformed(`part ${this.parts.length + 1}: Content-Disposition must be form-data`);
    const name = params.values.get("name");
    if (name === undefined || name === "") throw malformed(`part ${this.parts.length + 1} has no name`);
    const filename = params.values.get("filename");
    return { name, filename, contentType: headers.get("content-type"), chunks: [], bytes: 0, max: this.limits.partBytesMax(name, filename !== undefined) };
  }
}

/** `form-data; name="frame"; filename="a.png"` → type + parameters (quoted strings unescaped). */
function dispositionParams(value: string): { type: string; values: Map<string, string> } {
  const values = new Map<string, string>();
  const re = /;\s*([^=;\s]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g;
  const semi = value.indexOf(";");
  const type = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
  for (let m = re.exec(value); m !== null; m = re.exec(value)) values.set(m[1]!.toLowerCase(), m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : m[3]!.trim());
  return { type, values };
}

// ---------------------------------------------------------------------------------------------
// multipart/mixed responses
// ---------------------------------------------------------------------------------------------

export interface MixedPart {
  headers: Record<string, string>;
  body: Buffer;
}

export interface MixedBody {
  contentType: string;
  chunks: Buffer[];
  length: number;
}

export function multipartMixed(parts: MixedPart[]): MixedBody {
  // 24 random hex chars: the chance that an MP4 contains the boundary is negligible (2^-96 per offset).
  const boundary = `dream-${randomBytes(12).toString("hex")}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const head = Object.entries(part.headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("");
    chunks.push(Buffer.from(`--${boundary}\r\n${head}Content-Length: ${part.body.length}\r\n\r\n`), part.body, CRLF);
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { contentType: `multipart/mixed; boundary=${boundary}`, chunks, length: chunks.reduce((n, c) => n + c.length, 0) };
}
