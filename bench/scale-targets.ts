// The goals of the 10-million-key mode (issue 14 item 3), judged on one scale run's figures.
import type { RunRecord } from "./measure.js";
import { findComparison, type Comparison } from "./results.js";
import type { TargetResult } from "./targets.js";

export const SCALE_KEY_COUNT = 10_000_000;
export const SCALE_GOALS = { seedKeysPerSecond: 100_000, cacheMissRatio: 0.4, issueKeyPerSecond: 3_000, startupSeconds: 2 } as const;

export interface ScaleFigures {
  keyCount: number;
  seedSeconds?: number;
  /** Seconds from spawning `sigil serve` on the seeded database to its first SERVING health answer, one per start. */
  startupSeconds: number[];
  comparisons: readonly Comparison[];
  runs: readonly RunRecord[];
  /** Peak RSS of the serving process over start-up and every run. */
  peakRssMb?: number;
  noiseThresholdPercent: number;
}

const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");
const pct = (x: number): string => `${Math.round(x * 100)}%`;

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function runProblem(run: RunRecord | undefined): string | undefined {
  if (run === undefined) return "not measured";
  if (run.result === undefined) return run.problems.join("; ") || "no result";
  if (run.result.errors > 0) return `${fmt(run.result.errors)} failed calls`;
  return undefined;
}

function noiseNote(runs: ReadonlyArray<RunRecord | undefined>, threshold: number): string | undefined {
  const noisiest = Math.max(0, ...runs.map((r) => r?.otherCpuPercent ?? 0));
  return noisiest > threshold ? `⚠ other processes took up to ${noisiest}% of a core meanwhile` : undefined;
}

export function judgeScaleTargets(f: ScaleFigures): TargetResult[] {
  const scaleNote = f.keyCount < SCALE_KEY_COUNT ? `measured on ${fmt(f.keyCount)} keys; the goal is for ${fmt(SCALE_KEY_COUNT)}` : undefined;
  const withNotes = (t: TargetResult, ...notes: Array<string | undefined>): TargetResult => {
    const text = notes.filter(Boolean).join("; ");
    return text ? { ...t, note: text } : t;
  };
  const targets: TargetResult[] = [];

  const seedGoal = `≥ ${fmt(SCALE_GOALS.seedKeysPerSecond)} keys/s`;
  if (f.seedSeconds === undefined || f.seedSeconds <= 0) {
    targets.push({ description: "Seeding", goal: seedGoal, measured: "not measured", status: "n/a" });
  } else {
    const rate = f.keyCount / f.seedSeconds;
    targets.push(
      withNotes(
        { description: "Seeding", goal: seedGoal, measured: `${fmt(rate)} keys/s (${fmt(f.keyCount)} keys in ${f.seedSeconds.toFixed(1)} s)`, status: rate >= SCALE_GOALS.seedKeysPerSecond ? "pass" : "miss" },
        scaleNote,
      ),
    );
  }

  const miss = findComparison(f.comparisons, "verify-cache-miss", "throughput");
  const missGoal = `≥ ${pct(SCALE_GOALS.cacheMissRatio)} of bare grpc-js`;
  const missProblem = runProblem(miss?.run);
  const limits = f.runs.filter((r) => r.scenarioId === miss?.run.limitId && r.level === "throughput");
  if (missProblem || miss?.ratio === undefined) {
    targets.push({ description: "VerifyKey cache miss, random stored key, saturated", goal: missGoal, measured: missProblem ?? "no limit measured", status: "n/a" });
  } else {
    const spread = miss.limitSpreadPercent === undefined ? "" : `, limit spread ${miss.limitSpreadPercent}%`;
    targets.push(
      withNotes(
        {
          description: "VerifyKey cache miss, random stored key, saturated",
          goal: missGoal,
          measured: `${pct(miss.ratio)} (${fmt(miss.run.okPerSecond!)} / ${fmt(miss.limitRequestsPerSecond!)} req/s${spread})`,
          status: miss.ratio >= SCALE_GOALS.cacheMissRatio ? "pass" : "miss",
        },
        scaleNote,
        noiseNote([miss.run, ...limits], f.noiseThresholdPercent),
      ),
    );
  }

  const issue = f.runs.find((r) => r.scenarioId === "issue-key" && r.level === "throughput");
  const issueGoal = `≥ ${fmt(SCALE_GOALS.issueKeyPerSecond)} req/s`;
  const issueProblem = runProblem(issue);
  targets.push(
    issueProblem
      ? { description: "IssueKey, saturated", goal: issueGoal, measured: issueProblem, status: "n/a" }
      : withNotes(
          { description: "IssueKey, saturated", goal: issueGoal, measured: `${fmt(issue!.okPerSecond!)} req/s`, status: issue!.okPerSecond! >= SCALE_GOALS.issueKeyPerSecond ? "pass" : "miss" },
          scaleNote,
          noiseNote([issue], f.noiseThresholdPercent),
        ),
  );

  const startup = median(f.startupSeconds);
  const startupGoal = `≤ ${SCALE_GOALS.startupSeconds} s`;
  targets.push(
    startup === undefined
      ? { description: "Start-up, spawn to SERVING (median)", goal: startupGoal, measured: "not measured", status: "n/a" }
      : withNotes(
          {
            description: "Start-up, spawn to SERVING (median)",
            goal: startupGoal,
            measured: `${startup.toFixed(2)} s (starts: ${f.startupSeconds.map((s) => s.toFixed(2)).join(", ")} s)`,
            status: startup <= SCALE_GOALS.startupSeconds ? "pass" : "miss",
          },
          scaleNote,
        ),
  );

  targets.push(
    withNotes(
      { description: "Server peak RSS (start-up and every run)", goal: "reported (no goal set)", measured: f.peakRssMb === undefined ? "not measured" : `${fmt(f.peakRssMb)} MB`, status: "n/a" },
      scaleNote,
    ),
  );
  return targets;
}
