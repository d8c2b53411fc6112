// `npm run bench:fresh-memory`: what writing into never-touched memory costs on this machine, the
// term that dominates moving a 361 MB raw response (and the direct floor's own output buffer). Fills a
// fresh buffer of one K=8 T=48 480x640 response, fills it again (warm), and copies it into another
// fresh one, several times. Run it with and without glibc's transparent huge pages to compare:
//   npm run bench:fresh-memory                                    # as the process was started
//   GLIBC_TUNABLES=glibc.malloc.hugetlb=1 npx tsx bench/fresh-memory.ts
// Prints one JSON row per round and a one-line summary.
import { argInt, percentile, round } from "./lib";

const BYTES = 8 * 49 * 480 * 640 * 3;

function main(): void {
  const rounds = argInt("rounds", 6);
  const rows: { fresh_fill_ms: number; warm_fill_ms: number; copy_into_fresh_ms: number }[] = [];
  for (let i = 0; i < rounds; i++) {
    let t = performance.now();
    const a = Buffer.allocUnsafeSlow(BYTES);
    a.fill(1);
    const fresh = performance.now() - t;
    t = performance.now();
    a.fill(2);
    const warm = performance.now() - t;
    const b = Buffer.allocUnsafeSlow(BYTES);
    t = performance.now();
    a.copy(b);
    const copy = performance.now() - t;
    const row = { fresh_fill_ms: round(fresh), warm_fill_ms: round(warm), copy_into_fresh_ms: round(copy) };
    rows.push(row);
    process.stdout.write(`${JSON.stringify({ round: i, bytes: BYTES, glibc_tunables: process.env.GLIBC_TUNABLES ?? "", ...row })}\n`);
  }
  const med = (k: keyof (typeof rows)[number]) => round(percentile(rows.map((r) => r[k]), 0.5));
  process.stdout.write(
    `summary: ${round(BYTES / 1e6)} MB, median of ${rounds}: fresh fill ${med("fresh_fill_ms")} ms, warm fill ${med("warm_fill_ms")} ms, copy into fresh ${med("copy_into_fresh_ms")} ms (GLIBC_TUNABLES=${process.env.GLIBC_TUNABLES ?? "unset"})\n`,
  );
}

main();
