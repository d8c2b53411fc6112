// A bench's stdout → its JSON rows and its summary. The benches' contract: a line starting with `{`
// is a JSON row, a line starting with `summary` is the human summary. Two benches bend it, and both
// are kept rather than lost: a pretty-printed document (its `{` line does not parse alone, so lines are
// joined until the text parses) and a summary continued on indented lines (bench:codecs).

export interface ParsedOutput {
  rows: Record<string, unknown>[];
  summary: string | undefined;
  /** `{` blocks that never parsed: a bench printing broken JSON is a failure, not an empty result. */
  unparsed: string[];
}

/** `summary:`, or `summary (…):` where a bench puts its command and load in the heading (bench:saturation). */
const SUMMARY = /^summary[:( ]/;

/** Lines a pretty-printed document may span before the parser gives up on it. */
const DOCUMENT_LINES_MAX = 10_000;

export function parseBenchOutput(stdout: string): ParsedOutput {
  const lines = stdout.split(/\r?\n/);
  const rows: Record<string, unknown>[] = [];
  const unparsed: string[] = [];
  let summary: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith("{")) {
      let text = line;
      let end = i;
      let value = tryParse(text);
      while (value === undefined && end + 1 < lines.length && end - i < DOCUMENT_LINES_MAX) {
        text += `\n${lines[++end]}`;
        value = tryParse(text);
      }
      if (value === undefined) unparsed.push(line.slice(0, 200));
      else {
        rows.push(value);
        i = end;
      }
    } else if (SUMMARY.test(line)) {
      let text = line;
      while (i + 1 < lines.length && /^\s+\S/.test(lines[i + 1]!)) text += `\n${lines[++i]}`;
      // A bench that prints one summary per model (bench:mpc) keeps them all.
      summary = summary === undefined ? text : `${summary}\n${text}`;
    }
  }
  return { rows, summary, unparsed };
}

function tryParse(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
