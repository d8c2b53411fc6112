// The human summary of bench:saturation: per model and transport, the best served/floor ratio over
// all points (target ≥ 0.95, printed met or NOT met as measured), and how much of the gap the load
// generator's own CPU could explain: on a 2-core machine every core-second the generator burns is one
// the server's runner could not have, so generator CPU / (cores × wall) bounds the share of the
// machine it took away. That bounds, not proves, its part in the gap.
export type Row = Record<string, unknown>;

const TARGET = 0.95;
/** Other processes' share of the machine differing by more than this between the point and every floor phase flags the ratio. */
const OTHERS_DRIFT_MAX = 0.15;

/**
 * Adds ratio_to_floor_strict to every point: achieved frames/s over the best floor measured for its
 * model in either phase (before or after the served load), the stricter of the two floors.
 */
export function addStrictRatios(rows: Row[]): void {
  for (const r of rows.filter((x) => x.kind === "point")) {
    const floors = rows.filter((x) => x.kind === "floor" && x.model === r.model).map((x) => Number(x.frames_per_s));
    r.floor_strict_frames_per_s = Math.max(...floors);
    r.ratio_to_floor_strict = Math.round((Number(r.achieved_frames_per_s) / Math.max(...floors)) * 1000) / 1000;
  }
}

export function summarize(rows: Row[], run: Record<string, unknown>): string {
  addStrictRatios(rows);
  const points = rows.filter((r) => r.kind === "point");
  const lines: string[] = [];
  for (const model of [...new Set(rows.filter((r) => r.kind === "floor").map((r) => String(r.model)))]) {
    const phases = ["before", "after"].map((phase) => {
      const fs = rows.filter((r) => r.kind === "floor" && r.model === model && r.phase === phase);
      return fs.length ? `${phase}: ${fs.map((f) => `${f.lanes} lanes ${f.frames_per_s}`).join(", ")}` : undefined;
    });
    lines.push(`${model.replace("dream-reference-", "")} floor frames/s (direct, in-process) ${phases.filter(Boolean).join("; ")}`);
  }
  const keys = [...new Set(points.map((r) => `${r.model}|${r.transport}`))];
  for (const key of keys) {
    const [model, transport] = key.split("|");
    const mine = points.filter((r) => r.model === model && r.transport === transport);
    const best = mine.reduce((a, b) => (Number(b.ratio_to_floor_strict) > Number(a.ratio_to_floor_strict) ? b : a));
    const ratio = Number(best.ratio_to_floor_strict);
    const gap = Math.max(0, 1 - ratio);
    const gen = Number(best.generator_cpu_share);
    const where = best.mode === "closed" ? `closed c=${best.concurrency}` : `open ${best.offered_rate_per_s}/s`;
    const perMode = ["closed", "open"]
      .map((m) => mine.filter((r) => r.mode === m))
      .filter((xs) => xs.length)
      .map((xs) => `${xs[0]!.mode} best ${Math.max(...xs.map((r) => Number(r.ratio_to_floor_strict)))}`)
      .join(", ");
    const explained = gap > 0 ? `the generator took ${gen} of the machine's CPU there, i.e. it could explain up to ${Math.min(1, gen / gap).toFixed(2)} of the ${gap.toFixed(3)} gap` : `no gap (generator took ${gen} of the machine's CPU)`;
    // The floor and the point ran at different times; on a shared machine other load moves both.
    const floorOthers = [...new Set(rows.filter((r) => r.kind === "floor" && r.model === model).map((r) => Number(r.others_cpu_share)))];
    const pointOthers = Number(best.others_cpu_share);
    // Comparable when at least one floor phase ran under about the same neighbour load as the point.
    const drift = Math.min(...floorOthers.map((o) => Math.abs(o - pointOthers)));
    const driftNote = drift > OTHERS_DRIFT_MAX ? ` (UNRELIABLE: other processes took ${pointOthers} of the machine at the point vs ${floorOthers.join("/")} during the floor)` : "";
    lines.push(
      `${String(model).replace("dream-reference-", "")} ${transport}: best ${ratio} of the floor (${best.achieved_frames_per_s} vs ${best.floor_strict_frames_per_s} frames/s, the best floor of the run; ${best.ratio_to_floor} of the floor measured before the load) at ${where}, p50/p99 ${best.latency_p50_ms}/${best.latency_p99_ms} ms, errors ${best.errors}, server CPU ${best.server_cpu_share}, other processes ${best.others_cpu_share} (floor: ${floorOthers.join("/")}); ${explained} [${perMode}] — target >= ${TARGET}: ${ratio >= TARGET ? "met" : "NOT met"}${driftNote}`,
    );
  }
  const notes = [
    "batch_size_distribution is null: the server exposes only a trailing 1-minute mean_batch_size (GET /v1/status), recorded as mean_batch_size_trailing_1m; running_lanes_sampled is lanes in flight sampled every 250 ms, not engine step sizes",
    "REST queue_ms is null: the multipart raw answer carries its summary in headers, without queue_ms",
  ];
  if (run.quick && points.some((r) => r.model === "dream-reference-480p")) notes.push("quick mode: 480p runs gRPC closed loop only (c=1,2), its floor without a per-size warm-up run");
  return `summary (${run.command}; ${run.total_s} s; load average ${JSON.stringify(run.load_avg_start)} → ${JSON.stringify(run.load_avg_end)}; ${(run.machine as { cpu: string }).cpu} x${(run.machine as { cores: number }).cores}):\n${lines.map((l) => `  ${l}`).join("\n")}\n${notes.map((n) => `  note: ${n}`).join("\n")}\n`;
}
