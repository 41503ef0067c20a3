// bench/results/scale-<keys>.md: the 10-million-key mode's context, targets and runs.
import type { ScaleResults } from "../scale-run.js";
import { int, percent } from "./format.js";

const row = (cells: Array<string | number>): string => `| ${cells.join(" | ")} |`;

export function renderScaleMarkdown(r: ScaleResults): string {
  const m = r.machine;
  const lines = [
    `# Sigil at ${int(r.keyCount)} keys (${r.mode} timings)`,
    "",
    `${r.date}, commit ${r.commit}, ${m.cpuModel}, ${m.cores} cores, ${m.memoryGb} GB, Node ${m.node}, load average at start ${m.loadAverageAtStart.join(" / ")}.`,
    `SQLite database seeded by \`dist/bench/seed.js\` (bulk loader, both cores) with the server stopped; \`sigil serve\` (1 worker) pinned to core 0, ` +
      `the load generator to core 1; each run ${r.warmupMs / 1000} s warm-up + ${r.durationMs / 1000} s measured, saturated (4×32 streams).`,
    "",
    "## Targets (issue 14 item 3)",
    "",
    row(["Target", "Goal", "Measured", "Status", "Note"]),
    row(["---", "---", "---", "---", "---"]),
    ...r.targets.map((t) => row([t.description, t.goal, t.measured, t.status, t.note ?? ""])),
    "",
    "## Runs",
    "",
    row(["Scenario", "req/s (OK)", "limit req/s", "ratio", "p50 ms", "p99 ms", "errors", "server CPU", "other CPU", "peak RSS MB"]),
    row(["---", "---", "---", "---", "---", "---", "---", "---", "---", "---"]),
    ...r.runs.map((run) => {
      const c = r.comparisons.find((x) => x.run === run);
      const l = run.result?.latencyMs;
      return row([
        `${run.title}${run.round > 1 ? ` (round ${run.round})` : ""}`,
        int(run.okPerSecond),
        int(c?.limitRequestsPerSecond),
        percent(c?.ratio),
        l?.p50 ?? "–",
        l?.p99 ?? "–",
        run.result?.errors ?? "–",
        run.serverCpuPercent === undefined ? "–" : `${run.serverCpuPercent}%`,
        run.otherCpuPercent === undefined ? "–" : `${run.otherCpuPercent}%`,
        run.peakRssMb ?? "–",
      ]);
    }),
    "",
    `Start-up (spawn to the first SERVING health answer, polled every 10 ms): ${r.startupSeconds.map((s) => `${s.toFixed(2)} s`).join(", ") || "–"}; ` +
      `peak RSS after each start ${r.startupPeakRssMb.map((mb) => `${mb} MB`).join(", ") || "–"}.`,
    `Seeding: ${r.seedSeconds === undefined ? "–" : `${r.seedSeconds} s (${int(r.keyCount / r.seedSeconds)} keys/s)`}. Whole run ${r.durationSeconds} s.`,
  ];
  if (r.notes.length > 0) lines.push("", "## Notes", "", ...r.notes.map((n) => `- ${n}`));
  return lines.join("\n") + "\n";
}
