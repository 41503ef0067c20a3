// The Markdown report of a Talos-profile run: Talos's published figures beside Sigil's per setup.
import type { TalosSummary } from "./recorder.js";
import type { TALOS_REFERENCE } from "./stress-profile.js";

export interface TalosSetupResult {
  id: string;
  dialect: "sqlite" | "postgres";
  workers: number;
  summary: TalosSummary;
  /** CPU over the profile, in % of one core: Sigil's processes (with PostgreSQL's, when it is the database) and the load generator. */
  cpu: { serverPercent: number; generatorPercent: number; serverProcesses: number };
  peakRssMb?: number;
}

export interface TalosReport {
  generatedAt: string;
  scale: number;
  machine: string;
  reference: typeof TALOS_REFERENCE;
  peakVus: number;
  results: TalosSetupResult[];
}

const n = (x: number) => x.toLocaleString("en-US");

export function renderTalosReport(report: TalosReport): string {
  const r = report.reference;
  const cols = report.results;
  const head = `| metric | Talos (published) | ${cols.map((c) => `Sigil ${c.dialect === "sqlite" ? "SQLite" : "PostgreSQL"}, ${c.workers} worker${c.workers > 1 ? "s" : ""}`).join(" | ")} |`;
  const row = (name: string, talos: string, f: (s: TalosSummary, c: TalosSetupResult) => string) => `| ${name} | ${talos} | ${cols.map((c) => f(c.summary, c)).join(" | ")} |`;
  const lines = [
    "# Ory Talos's stress profile, run against Sigil",
    "",
    `Generated ${report.generatedAt} by \`make bench-talos\` (\`node dist/bench/talos/talos-bench.js\`).`,
    report.scale === 1
      ? "The profile as Talos publishes it: ramping VUs over 5 minutes (read 1 → 105, five write scenarios 1 → 45 each, macaroon 1 → 105, two functional scenarios of 1 VU), closed loop."
      : `**A shortened run** (every stage at ${report.scale} of its length): a check of the harness, not comparable with Talos's figures.`,
    "",
    `Hardware is not the same: Talos's figures are ${r.hardware}; Sigil's are this machine (${report.machine}), with Sigil, its database and the load generator sharing its cores.`,
    "Requests are Connect JSON over HTTP/1.1 (Talos: JSON over HTTP/1.1 from k6).",
    "",
    head,
    `|---|---|${cols.map(() => "---").join("|")}|`,
    row("Total requests", n(r.totalRequests), (s) => n(s.totalRequests)),
    row("Peak throughput (req/s, best second)", n(r.peakThroughput), (s) => n(s.peakThroughput)),
    row("Overall p99 latency", `${r.overallP99Ms} ms`, (s) => `${s.overall.p99} ms`),
    row("Verify p95 latency", `${r.verifyP95Ms} ms`, (s) => `${s.verify.p95} ms`),
    row("Verify p99 latency", `${r.verifyP99Ms} ms`, (s) => `${s.verify.p99} ms`),
    row("Error rate", `${r.errorRatePercent.toFixed(2)}%`, (s) => `${s.errorRatePercent.toFixed(2)}%`),
    row("Peak VUs", n(r.peakVus), () => n(report.peakVus)),
    row("Key creations", `${n(r.keyCreationsPerSecond)}/s`, (s) => `${n(s.perSecond.key_creations)}/s`),
    row("Verifications", `${n(r.verificationsPerSecond)}/s`, (s) => `${n(s.perSecond.verifications)}/s`),
    row("Token derivations", `${n(r.tokenDerivationsPerSecond)}/s`, (s) => `${n(s.perSecond.token_derivations)}/s`),
    row("Checks failed", "0", (s) => n(s.checks.failed)),
    row("CPU: Sigil / load generator (% of a core)", "–", (_s, c) => `${c.cpu.serverPercent}% / ${c.cpu.generatorPercent}%`),
    row("Sigil peak RSS", "–", (_s, c) => (c.peakRssMb === undefined ? "–" : `${c.peakRssMb} MB`)),
    "",
  ];
  const failed = cols.filter((c) => c.summary.checks.failed > 0);
  for (const c of failed) lines.push(`Failed checks on ${c.id}: ${c.summary.checks.failedNames.join(", ")}.`, "");
  return lines.join("\n");
}
