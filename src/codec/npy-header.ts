// The .npy header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (49, 384), }
// numpy reads it with ast.literal_eval; we accept the small subset numpy itself writes (strings,
// True/False/None, ints, tuples and lists) and nothing else. Never eval it.
//
// The parser recurses into tuples and lists, so their nesting is bounded (limits.npyHeaderDepthMax):
// a 10,000-byte header can open ~5,000 of them, enough to overflow the stack of a recursive parser.
import { limits } from "../core/limits";

export type PyValue = string | number | boolean | null | { tuple: PyValue[] } | { list: PyValue[] };

export class NpyHeaderSyntaxError extends Error {
  override name = "NpyHeaderSyntaxError";
}

export function parsePyDict(text: string): Map<string, PyValue> {
  const p = new Parser(text);
  p.ws();
  const out = p.dict();
  p.ws();
  if (!p.atEnd()) p.fail("unexpected text after the closing '}'");
  return out;
}

class Parser {
  private i = 0;
  /** Tuples and lists open around the current position. */
  private depth = 0;
  constructor(private readonly s: string) {}

  atEnd(): boolean {
    return this.i >= this.s.length;
  }

  fail(what: string): never {
    throw new NpyHeaderSyntaxError(`${what} at offset ${this.i}`);
  }

  ws(): void {
    while (this.i < this.s.length && " \t\r\n".includes(this.s[this.i]!)) this.i++;
  }

  private eat(ch: string): boolean {
    this.ws();
    if (this.s[this.i] === ch) {
      this.i++;
      return true;
    }
    return false;
  }

  private expect(ch: string): void {
    if (!this.eat(ch)) this.fail(`expected '${ch}'`);
  }

  dict(): Map<string, PyValue> {
    this.expect("{");
    const out = new Map<string, PyValue>();
    while (!this.eat("}")) {
      this.ws();
      const key = this.value();
      if (typeof key !== "string") this.fail("dict keys must be strings");
      if (out.has(key)) this.fail(`duplicate key '${key}'`);
      this.expect(":");
      out.set(key, this.value());
      if (!this.eat(",")) {
        this.expect("}");
        break;
      }
    }
    return out;
  }

  /** A tuple or list whose opening bracket is at the current position. */
  private nested(close: string): PyValue[] {
    if (this.depth >= limits.npyHeaderDepthMax) this.fail(`nested deeper than ${limits.npyHeaderDepthMax} levels`);
    this.depth++;
    this.i++;
    const items = this.sequence(close);
    this.depth--;
    return items;
  }

  private sequence(close: string): PyValue[] {
    const items: PyValue[] = [];
    while (!this.eat(close)) {
      items.push(this.value());
      if (!this.eat(",")) {
        this.expect(close);
        break;
      }
    }
    return items;
  }

  value(): PyValue {
    this.ws();
    const c = this.s[this.i];
    if (c === "'" || c === '"') return this.str(c);
    if (c === "(") return { tuple: this.nested(")") };
    if (c === "[") return { list: this.nested("]") };
    for (const [word, v] of [["True", true], ["False", false], ["None", null]] as const) {
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    const m = /^-?\d+L?/.exec(this.s.slice(this.i, this.i + 40)); // 'L': Python 2 longs in old files
    if (m) {
      this.i += m[0].length;
      const n = Number(m[0].replace("L", ""));
      if (!Number.isSafeInteger(n)) this.fail("integer too large");
      return n;
    }
    this.fail("expected a string, number, True/False/None, tuple or list");
  }

  private str(quote: string): string {
    this.i++;
    let out = "";
    while (this.i < this.s.length && this.s[this.i] !== quote) {
      if (this.s[this.i] === "\\") this.fail("escapes are not supported in header strings");
      out += this.s[this.i++];
    }
    if (this.atEnd()) this.fail("unterminated string");
    this.i++;
    return out;
  }
}
