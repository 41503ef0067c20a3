// The goals of issue #3, judged on a run's figures: ratios to the limit, absolute rates, p99, RSS.
import type { BenchConfig } from "./config.js";
import type { FeatureCost } from "./feature-cost.js";
import type { RunRecord } from "./measure.js";
import { findComparison, pacedLimitOf, type Comparison } from "./results.js";

export interface TargetResult {
  description: string;
  goal: string;
  measured: string;
  status: "pass" | "miss" | "n/a";
  note?: string;
}

type Check =
  | { kind: "ratio"; scenarioId: string; atLeast: number; limitName: string }
  | { kind: "rate"; scenarioId: string; atLeast: number }
  | { kind: "p99"; scenarioId: string; atMostMs: number }
  /** p99 from the scheduled send time of an open-loop run at `percent` of the scenario's saturated rate. */
  | { kind: "open-p99"; scenarioId: string; percent: number; atMostMs: number }
  | { kind: "rss"; atMostMb: number }
  /** This scenario's saturated rate against another Sigil scenario's (what a feature costs). */
  | { kind: "relative"; scenarioId: string; baselineId: string; atLeast: number; baselineName: string };

interface Target {
  description: string;
  check: Check;
  /** True when the goal is stated for the full-size database (1M keys). */
  needsFullDataset?: boolean;
}

const TARGETS: Target[] = [
  { description: "VerifyKey cache hit, saturated", check: { kind: "ratio", scenarioId: "verify-cache-hit", atLeast: 0.7, limitName: "bare grpc-js" } },
  { description: "VerifyKey cache hit over TLS, saturated", check: { kind: "ratio", scenarioId: "verify-cache-hit-tls", atLeast: 0.65, limitName: "bare grpc-js over TLS" } },
  {
    description: "VerifyKey cache hit: TLS against plaintext Sigil",
    check: { kind: "relative", scenarioId: "verify-cache-hit-tls", baselineId: "verify-cache-hit", atLeast: 0.85, baselineName: "plaintext" },
  },
  { description: "VerifyKey cache hit, 1×1 p99", check: { kind: "p99", scenarioId: "verify-cache-hit", atMostMs: 1 } },
  { description: "VerifyKey cache miss over the large database, saturated", check: { kind: "ratio", scenarioId: "verify-cache-miss", atLeast: 0.5, limitName: "bare grpc-js" }, needsFullDataset: true },
  { description: "VerifyKey malformed key, saturated", check: { kind: "ratio", scenarioId: "verify-malformed", atLeast: 0.7, limitName: "bare grpc-js" } },
  { description: "VerifyKey unknown key, saturated", check: { kind: "ratio", scenarioId: "verify-unknown", atLeast: 0.7, limitName: "bare grpc-js" } },
  { description: "VerifyKey derived JWT, saturated", check: { kind: "ratio", scenarioId: "verify-jwt", atLeast: 0.35, limitName: "bare grpc-js" } },
  { description: "IssueKey, saturated", check: { kind: "rate", scenarioId: "issue-key", atLeast: 3000 } },
  { description: "DeriveToken (JWT), saturated", check: { kind: "rate", scenarioId: "derive-jwt", atLeast: 3000 } },
  { description: "Connect JSON VerifyKey, saturated", check: { kind: "ratio", scenarioId: "verify-connect-json", atLeast: 0.7, limitName: "bare connect-node" } },
  // Issue #12: forward auth for gateways, on the same HTTP/1.1 listener and limit as Connect JSON.
  { description: "Forward auth /v1/authorize cache hit, saturated", check: { kind: "ratio", scenarioId: "gateway-forward-auth", atLeast: 0.8, limitName: "bare connect-node" } },
  // Issue #14 item 2 (issue #3 asked ≤ 300 MB). SIGIL_MEMORY_LIMIT is what keeps a process within it.
  { description: "Server peak RSS with the large database", check: { kind: "rss", atMostMb: 250 }, needsFullDataset: true },
  { description: "VerifyKey cache hit, open loop at 50% of saturated, p99", check: { kind: "open-p99", scenarioId: "verify-cache-hit", percent: 50, atMostMs: 1 } },
  { description: "VerifyKey cache hit, open loop at 75% of saturated, p99", check: { kind: "open-p99", scenarioId: "verify-cache-hit", percent: 75, atMostMs: 3 } },
  {
    description: "VerifyKey cache miss over the large database, open loop at 50% of saturated, p99",
    check: { kind: "open-p99", scenarioId: "verify-cache-miss", percent: 50, atMostMs: 3 },
    needsFullDataset: true,
  },
];

/** Issue #11: what a feature costs, from the interleaved rounds of its pair (feature-cost.ts). */
const FEATURE_COST_TARGETS: ReadonlyArray<{ description: string; pairId: string }> = [
  { description: "Metrics cost on VerifyKey cache hit, saturated", pairId: "cost-metrics" },
  { description: "Tracing cost on VerifyKey cache hit, saturated", pairId: "cost-tracing" },
  { description: "Tracing cost on VerifyKey cache hit, 10% of calls sampled, saturated", pairId: "cost-tracing-sampled" },
  { description: "Usage analytics cost on VerifyKey cache hit, saturated", pairId: "cost-usage" },
  // Issue #13: no more than 3% apart.
  { description: "1,000 tenants against one, VerifyKey cache hit, saturated", pairId: "cost-tenants" },
  { description: "1,000 tenants against one, VerifyKey cache miss, saturated", pairId: "cost-tenants-miss" },
];

function judgeFeatureCost(description: string, cost: FeatureCost | undefined, threshold: number): TargetResult {
  if (cost === undefined || cost.atLeast === undefined) return { description, goal: "–", measured: "not measured", status: "n/a" };
  const goal = `≥ ${pct(cost.atLeast)} of ${cost.offName} (costs ≤ ${pct(1 - cost.atLeast)})`;
  if (cost.ratio === undefined) return { description, goal, measured: cost.problems.join("; ") || "no result", status: "n/a" };
  const sides = cost.rounds.length / 2;
  const range = cost.roundRatioRange ? `, rounds ${cost.roundRatioRange.map(pct).join("–")}` : "";
  const measured = `${pct(cost.ratio)} (medians ${fmt(cost.onMedian!)} / ${fmt(cost.offMedian!)} req/s over ${sides} interleaved rounds each${range})`;
  const notes: string[] = [];
  if (cost.problems.length > 0) notes.push(cost.problems.join("; "));
  const noisiest = Math.max(0, ...cost.rounds.map((r) => r.run.otherCpuPercent ?? 0));
  if (noisiest > threshold) notes.push(`⚠ other processes took up to ${noisiest}% of a core meanwhile`);
  return { description, goal, measured, status: cost.ratio >= cost.atLeast ? "pass" : "miss", ...(notes.length ? { note: notes.join("; ") } : {}) };
}

const FULL_DATASET_KEYS = 1_000_000;

const openLoopRunOf = (run: RunRecord, scenarioId: string, percent: number): boolean =>
  run.scenarioId === scenarioId && run.level === "open-loop" && run.openLoop?.percentOfSaturation === percent;
const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");
const pct = (x: number): string => `${Math.round(x * 100)}%`;

function runProblem(run: RecordLike | undefined): string | undefined {
  if (run === undefined) return "not measured";
  if (run.skipped) return `skipped: ${run.skipped}`;
  if (run.result === undefined) return run.problems.join("; ") || "no result";
  if (run.result.errors > 0) return `${fmt(run.result.errors)} failed calls`;
  return undefined;
}
type RecordLike = Pick<RunRecord, "skipped" | "result" | "problems">;

/** The runs a target's verdict rests on, to tell whether any of them was noisy. */
function runsBehind(target: Target, comparisons: readonly Comparison[], runs: readonly RunRecord[]): RunRecord[] {
  const check = target.check;
  if (check.kind === "rss") return runs.filter((r) => r.target === "sigil-main");
  if (check.kind === "relative") return runs.filter((r) => (r.scenarioId === check.scenarioId || r.scenarioId === check.baselineId) && r.level === "throughput");
  if (check.kind === "open-p99") return runs.filter((r) => openLoopRunOf(r, check.scenarioId, check.percent));
  const level = check.kind === "p99" ? "latency" : "throughput";
  const run = runs.find((r) => r.scenarioId === check.scenarioId && r.level === level);
  if (run === undefined) return [];
  if (check.kind !== "ratio") return [run];
  const limits = runs.filter((r) => r.scenarioId === findComparison(comparisons, check.scenarioId, level)?.run.limitId && r.level === level);
  return [run, ...limits];
}

function judge(target: Target, comparisons: readonly Comparison[], runs: readonly RunRecord[]): Omit<TargetResult, "description" | "note"> {
  const check = target.check;
  switch (check.kind) {
    case "ratio": {
      const c = findComparison(comparisons, check.scenarioId, "throughput");
      const goal = `≥ ${pct(check.atLeast)} of ${check.limitName}`;
      const problem = runProblem(c?.run);
      if (problem || c?.ratio === undefined) return { goal, measured: problem ?? "no limit measured", status: "n/a" };
      const measured = `${pct(c.ratio)} (${fmt(c.run.okPerSecond!)} / ${fmt(c.limitRequestsPerSecond!)} req/s)`;
      return { goal, measured, status: c.ratio >= check.atLeast ? "pass" : "miss" };
    }
    case "rate": {
      const run = runs.find((r) => r.scenarioId === check.scenarioId && r.level === "throughput");
      const goal = `≥ ${fmt(check.atLeast)} req/s`;
      const problem = runProblem(run);
      if (problem) return { goal, measured: problem, status: "n/a" };
      return { goal, measured: `${fmt(run!.okPerSecond!)} req/s`, status: run!.okPerSecond! >= check.atLeast ? "pass" : "miss" };
    }
    case "p99": {
      const run = runs.find((r) => r.scenarioId === check.scenarioId && r.level === "latency");
      const goal = `≤ ${check.atMostMs} ms`;
      const problem = runProblem(run);
      if (problem) return { goal, measured: problem, status: "n/a" };
      const p99 = run!.result!.latencyMs.p99;
      return { goal, measured: `${p99} ms`, status: p99 <= check.atMostMs ? "pass" : "miss" };
    }
    case "open-p99": {
      const run = runs.find((r) => openLoopRunOf(r, check.scenarioId, check.percent));
      const goal = `≤ ${check.atMostMs} ms`;
      const problem = runProblem(run);
      if (problem) return { goal, measured: problem, status: "n/a" };
      const { p99 } = run!.result!.latencyMs;
      // A dropped call never answered at all: the rate was not sustained.
      if (run!.openLoop!.dropped > 0) return { goal, measured: `${fmt(run!.openLoop!.dropped)} calls dropped (p99 of the rest ${p99} ms)`, status: "miss" };
      const limit = pacedLimitOf(runs, run!);
      const limitP99 = limit?.result && limit.result.errors === 0 ? `; bare grpc-js at that rate: ${limit.result.latencyMs.p99} ms` : "";
      return { goal, measured: `${p99} ms at ${fmt(run!.openLoop!.targetRatePerSecond)} req/s${limitP99}`, status: p99 <= check.atMostMs ? "pass" : "miss" };
    }
    case "relative": {
      const run = runs.find((r) => r.scenarioId === check.scenarioId && r.level === "throughput");
      const base = runs.find((r) => r.scenarioId === check.baselineId && r.level === "throughput");
      const goal = `≥ ${pct(check.atLeast)} of ${check.baselineName} (costs ≤ ${pct(1 - check.atLeast)})`;
      const problem = runProblem(run) ?? runProblem(base);
      if (problem) return { goal, measured: problem, status: "n/a" };
      const ratio = run!.okPerSecond! / base!.okPerSecond!;
      return { goal, measured: `${pct(ratio)} (${fmt(run!.okPerSecond!)} / ${fmt(base!.okPerSecond!)} req/s)`, status: ratio >= check.atLeast ? "pass" : "miss" };
    }
    case "rss": {
      const peaks = runs.filter((r) => r.target === "sigil-main" && r.peakRssMb !== undefined).map((r) => r.peakRssMb!);
      const goal = `≤ ${check.atMostMb} MB`;
      if (peaks.length === 0) return { goal, measured: "not measured", status: "n/a" };
      const peak = Math.max(...peaks);
      return { goal, measured: `${fmt(peak)} MB`, status: peak <= check.atMostMb ? "pass" : "miss" };
    }
  }
}

/** The throughput a saturated run must reach for its target, in req/s (for the chart). */
export function throughputGoal(comparison: Comparison): number | undefined {
  const check = TARGETS.find(
    (t) => "scenarioId" in t.check && t.check.scenarioId === comparison.run.scenarioId && t.check.kind !== "p99" && t.check.kind !== "open-p99",
  )?.check;
  if (check?.kind === "rate") return check.atLeast;
  if (check?.kind === "ratio" && comparison.limitRequestsPerSecond !== undefined) return check.atLeast * comparison.limitRequestsPerSecond;
  return undefined;
}

export function judgeTargets(
  config: BenchConfig,
  comparisons: readonly Comparison[],
  runs: readonly RunRecord[],
  featureCosts: readonly FeatureCost[] = [],
): TargetResult[] {
  const costs = FEATURE_COST_TARGETS.map((t) => judgeFeatureCost(t.description, featureCosts.find((c) => c.id === t.pairId), config.noiseThresholdPercent));
  return [...TARGETS.map((target) => {
    const verdict = judge(target, comparisons, runs);
    const notes: string[] = [];
    if (target.needsFullDataset && config.mainKeyCount < FULL_DATASET_KEYS) {
      notes.push(`measured on ${fmt(config.mainKeyCount)} keys; the goal is for ${fmt(FULL_DATASET_KEYS)}`);
    }
    const noisiest = Math.max(0, ...runsBehind(target, comparisons, runs).map((r) => r.otherCpuPercent ?? 0));
    if (noisiest > config.noiseThresholdPercent) notes.push(`⚠ other processes took up to ${noisiest}% of a core meanwhile`);
    return { description: target.description, ...verdict, ...(notes.length ? { note: notes.join("; ") } : {}) };
  }), ...costs];
}
