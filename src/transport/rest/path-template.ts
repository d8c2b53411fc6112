// google.api.http path templates: parse once at start, match per request.
//
//   Template = "/" Segments [ Verb ] ;   Segment = "*" | "**" | LITERAL | Variable ;
//   Variable = "{" FieldPath [ "=" Segments ] "}" ;   Verb = ":" LITERAL ;
//
// We match segment by segment (no regexes) because the percent-decoding rules differ by binding kind:
// a single-segment variable decodes everything (so "%2F" becomes "/"), while a multi-segment variable
// keeps "%2F" encoded so the value still splits back into the segments it matched (HttpRule docs).

import { quoted, ServiceError } from "../../core/errors";

export type Atom = { kind: "literal"; text: string } | { kind: "star" } | { kind: "starstar" };

export interface Variable {
  /** Dotted field path in the request message, e.g. "model" or "shelf.name". */
  fieldPath: string[];
  /** Index range [start, end) of the atoms this variable captures. */
  start: number;
  end: number;
}

export interface PathTemplate {
  source: string;
  atoms: Atom[];
  variables: Variable[];
  verb: string | undefined;
  /** Literal atoms count; more literals = more specific, tried first when two templates overlap. */
  literalCount: number;
}

export class TemplateSyntaxError extends Error {
  override name = "TemplateSyntaxError";
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
// RFC 3986 pchar minus ":" (reserved for the verb), "{", "}" and "*" (template syntax).
const LITERAL = /^(?:[A-Za-z0-9\-._~!$&'()+,;=@]|%[0-9A-Fa-f]{2})+$/;

export function parseTemplate(source: string): PathTemplate {
  const fail = (why: string): never => {
    throw new TemplateSyntaxError(`path template ${JSON.stringify(source)}: ${why}`);
  };
  if (!source.startsWith("/")) fail("must start with '/'");
  let body = source.slice(1);
  let verb: string | undefined;
  // The verb is a ':' after the last '/' that is outside any {...}.
  const lastSlash = body.lastIndexOf("/");
  const lastClose = body.lastIndexOf("}");
  const colon = body.indexOf(":", Math.max(lastSlash, lastClose) + 1);
  if (colon >= 0) {
    verb = body.slice(colon + 1);
    body = body.slice(0, colon);
    if (!LITERAL.test(verb)) fail(`bad verb ${JSON.stringify(verb)}`);
  }
  const atoms: Atom[] = [];
  const variables: Variable[] = [];
  const pushAtom = (seg: string): void => {
    if (seg === "*") atoms.push({ kind: "star" });
    else if (seg === "**") atoms.push({ kind: "starstar" });
    else if (LITERAL.test(seg)) atoms.push({ kind: "literal", text: seg });
    else fail(`bad segment ${JSON.stringify(seg)}`);
  };
  for (const seg of splitTopLevel(body, fail)) {
    if (!seg.startsWith("{")) {
      pushAtom(seg);
      continue;
    }
    if (!seg.endsWith("}")) fail(`a variable must be a whole segment: ${JSON.stringify(seg)}`);
    const inner = seg.slice(1, -1);
    const eq = inner.indexOf("=");
    const fieldPath = (eq < 0 ? inner : inner.slice(0, eq)).split(".");
    if (!fieldPath.every((p) => IDENT.test(p))) fail(`bad field path ${JSON.stringify(inner)}`);
    const start = atoms.length;
    for (const sub of (eq < 0 ? "*" : inner.slice(eq + 1)).split("/")) pushAtom(sub);
    variables.push({ fieldPath, start, end: atoms.length });
  }
  const starstar = atoms.findIndex((a) => a.kind === "starstar");
  if (starstar >= 0 && starstar !== atoms.length - 1) fail("'**' must be the last segment");
  return { source, atoms, variables, verb, literalCount: atoms.filter((a) => a.kind === "literal").length };
}

/** "a/{b=c/*}/d" → ["a", "{b=c/*}", "d"]: slashes inside braces do not split. */
function splitTopLevel(body: string, fail: (why: string) => never): string[] {
  if (body === "") return [];
  const out: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === "{") {
      if (depth > 0) fail("nested variables");
      depth = 1;
    } else if (c === "}") {
      if (depth === 0) fail("unbalanced '}'");
      depth = 0;
    } else if (c === "/" && depth === 0) {
      out.push(body.slice(from, i));
      from = i + 1;
    }
  }
  if (depth > 0) fail("unclosed '{'");
  out.push(body.slice(from));
  if (out.some((seg) => seg === "")) fail("empty segment");
  return out;
}

/**
 * A path segment that is not valid percent-encoding (e.g. "%ZZ"): the client's mistake, so a 400
 * INVALID_ARGUMENT naming the path, never an unexpected error (a 500 with a stack in the error log).
 */
export class BadPathEncoding extends ServiceError {
  override name = "BadPathEncoding";
  constructor(segment: string) {
    super("INVALID_ARGUMENT", `path: bad percent-encoding in path segment ${quoted(segment)}; encode '%' as %25`, { field: "path" });
  }
}

function decodeSegment(raw: string, keepSlash: boolean): string {
  try {
    if (!keepSlash) return decodeURIComponent(raw);
    return raw
      .split(/%2F/i)
      .map((s) => decodeURIComponent(s))
      .join("%2F");
  } catch {
    throw new BadPathEncoding(raw);
  }
}

/** Path bindings (field path joined by "." → decoded value) if `path` matches, else undefined. */
export function matchTemplate(t: PathTemplate, path: string): Map<string, string> | undefined {
  if (!path.startsWith("/")) return undefined;
  let rest = path.slice(1);
  if (t.verb !== undefined) {
    const suffix = ":" + t.verb;
    if (!rest.endsWith(suffix)) return undefined;
    rest = rest.slice(0, -suffix.length);
  }
  const segs = rest === "" ? [] : rest.split("/");
  // A template like "/" matches only the root.
  if (t.atoms.length === 0) return segs.length === 0 ? new Map() : undefined;
  const spans: Array<[number, number]> = []; // per atom: [first seg, end seg)
  let s = 0;
  for (const atom of t.atoms) {
    if (atom.kind === "starstar") {
      spans.push([s, segs.length]);
      s = segs.length;
      continue;
    }
    if (s >= segs.length) return undefined;
    const seg = segs[s]!;
    if (atom.kind === "literal" ? seg !== atom.text : seg === "") return undefined;
    spans.push([s, s + 1]);
    s += 1;
  }
  if (s !== segs.length) return undefined;
  const out = new Map<string, string>();
  for (const v of t.variables) {
    const first = spans[v.start]![0];
    const end = spans[v.end - 1]![1];
    if (end <= first) return undefined; // a variable never binds the empty string
    const multi = end - first > 1 || t.atoms[v.end - 1]!.kind === "starstar";
    out.set(v.fieldPath.join("."), segs.slice(first, end).map((x) => decodeSegment(x, multi)).join("/"));
  }
  return out;
}

/** The template in OpenAPI form: "/v1/{name=shelves/*}:peek" → "/v1/{name}:peek". */
export function openApiPath(t: PathTemplate): string {
  return t.source.replace(/\{([^}=]+)(=[^}]*)?\}/g, "{$1}");
}
