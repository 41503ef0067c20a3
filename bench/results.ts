// The shape of bench/results/latest.json, and the derived views the reports print: each Sigil run
// beside its limit, the key-count comparison.
import type { BenchConfig } from "./config.js";
import type { FeatureCost } from "./feature-cost.js";
import type { GeneratorCheck } from "./generator-check.js";
import type { LatencySummaryMs } from "./histogram.js";
import type { RunRecord } from "./measure.js";
import type { ProfileSummary } from "./report/cpu-profile.js";
import type { MachineInfo } from "./report/machine.js";
import type { RevocationWindow } from "./revocation-window.js";
import type { TargetResult } from "./targets.js";

export interface BenchResults {
  date: string;
  commit: string;
  machine: MachineInfo;
  config: BenchConfig;
  /** How the load was generated, the server's log level, listener protocols: said in the report. */
  setup: string[];
  datasets: Array<{ name: string; keyCount: number; seededWith: string; seedSeconds: number }>;
  runs: RunRecord[];
  comparisons: Comparison[];
  targets: TargetResult[];
  /** Issue #11: what metrics, usage analytics and tracing cost, from interleaved rounds (feature-cost.ts). */
  featureCosts: FeatureCost[];
  generatorChecks: GeneratorCheck[];
  /** Issue #5: time from RevokeKey returning on one process to another process rejecting the key. */
  revocationWindows: RevocationWindow[];
  /** The PostgreSQL server of the PostgreSQL scenarios, when they ran. */
  postgres?: { version: string; binDir: string };
  /** Sigil's CPU profiles, one per server instance, when run with --cpu-prof. */
  profiles: Array<{ target: string; scenarios: string[]; summary: ProfileSummary }>;
  notes: string[];
  durationSeconds: number;
}

export interface Comparison {
  run: RunRecord;
  /** Mean over the limit's rounds. */
  limitRequestsPerSecond?: number;
  /** (max - min) / mean over the rounds, in percent; undefined with one round. */
  limitSpreadPercent?: number;
  limitLatencyMs?: LatencySummaryMs;
  /** Sigil's successful calls per second over the limit's calls per second. */
  ratio?: number;
}

export function compareWithLimits(runs: readonly RunRecord[]): Comparison[] {
  return runs
    // Open-loop runs have no limit counterpart: they are judged on latency alone.
    .filter((run) => run.limitId !== undefined && run.level !== "open-loop")
    .map((run) => {
      const limits = runs.filter((r) => r.scenarioId === run.limitId && r.level === run.level && r.result !== undefined);
      if (limits.length === 0) return { run };
      const rates = limits.map((r) => r.result!.requestsPerSecond);
      const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
      return {
        run,
        limitRequestsPerSecond: Math.round(mean),
        ...(rates.length > 1 ? { limitSpreadPercent: Math.round((100 * (Math.max(...rates) - Math.min(...rates))) / mean) } : {}),
        limitLatencyMs: limits[0]!.result!.latencyMs,
        ...(run.okPerSecond !== undefined && mean > 0 ? { ratio: run.okPerSecond / mean } : {}),
      };
    });
}

/** The limit's open-loop run sent at exactly `run`'s rate (runLimitOpenLoops), if there is one. */
export function pacedLimitOf(runs: readonly RunRecord[], run: RunRecord): RunRecord | undefined {
  return runs.find(
    (r) => r.level === "open-loop" && r.openLoop?.pacedTo === run.scenarioId && r.openLoop.targetRatePerSecond === run.openLoop?.targetRatePerSecond,
  );
}

export function findComparison(comparisons: readonly Comparison[], scenarioId: string, level: RunRecord["level"]): Comparison | undefined {
  return comparisons.find((c) => c.run.scenarioId === scenarioId && c.run.level === level);
}
