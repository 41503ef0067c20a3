// What a feature costs on VerifyKey cache hit (issue #11), measured fairly: the server with the
// feature on and the server with it off run at once, on the same database file (SQLite WAL lets
// several processes share it), both pinned to the server core, and the load alternates between
// them in short rounds (A B, B A, A B, …), so that drift of the machine (other processes, thermal,
// page cache) falls on both sides alike and neither benefits from start order. With more than one
// process per side the rounds rotate over them too, so one process's own luck (memory layout, JIT)
// is not taken for the feature's cost. The figure is the ratio of the two sides' median rates.
import type { RunRecord } from "./measure.js";

export interface FeaturePair {
  id: string;
  /** What is compared, for the report. */
  title: string;
  /** Goal: the "on" side's median rate is at least this fraction of the "off" side's (undefined: no goal, a control). */
  atLeast?: number;
  on: FeatureSide;
  off: FeatureSide;
  /** Words --only also matches (the former scenario ids). */
  aliases: string[];
  /** The scenario both sides are loaded with (default: verify-cache-hit). */
  scenario?: string;
}

export interface FeatureSide {
  name: string;
  /** SIGIL_* settings of this side's servers (the default config when empty). */
  env: Record<string, string>;
  /** Export spans to the harness's OTLP receiver. */
  traced?: boolean;
  /** The database this side's servers open: the main one (default) or the many-tenants one (issue #13). */
  dataset?: "main" | "tenants";
}

const DEFAULTS: FeatureSide = { name: "defaults (metrics on, usage analytics on, tracing off)", env: {} };

export const FEATURE_PAIRS: readonly FeaturePair[] = [
  {
    id: "cost-control",
    title: "control: two sets of identical servers (the method's noise floor)",
    on: { name: "defaults, set A", env: {} },
    off: { name: "defaults, set B", env: {} },
    aliases: [],
  },
  {
    id: "cost-metrics",
    title: "Prometheus metrics (SIGIL_METRICS_ADDR empty turns them off)",
    atLeast: 0.97,
    on: DEFAULTS,
    off: { name: "metrics off", env: { SIGIL_METRICS_ADDR: "" } },
    aliases: ["no-metrics"],
  },
  {
    id: "cost-usage",
    title: "usage analytics (SIGIL_USAGE_ANALYTICS=off turns them off)",
    atLeast: 0.98,
    on: DEFAULTS,
    off: { name: "usage analytics off", env: { SIGIL_USAGE_ANALYTICS: "off" } },
    aliases: ["no-usage"],
  },
  {
    id: "cost-tracing",
    title: "OpenTelemetry tracing, every call a span, exported over OTLP/HTTP to a local receiver",
    atLeast: 0.85,
    on: { name: "tracing on (100% sampled)", env: {}, traced: true },
    off: DEFAULTS,
    aliases: ["traced"],
  },
  {
    // Production tracing is usually sampled: a trace per ten calls is what an operator at
    // saturation would configure, and the standard sampler setting does it.
    id: "cost-tracing-sampled",
    title: "OpenTelemetry tracing with 10% of calls sampled (OTEL_TRACES_SAMPLER=parentbased_traceidratio, ARG 0.1), exported to a local receiver",
    atLeast: 0.85,
    on: { name: "tracing on (10% sampled)", env: { OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.1" }, traced: true },
    off: DEFAULTS,
    aliases: [],
  },
  {
    // Issue #13: the same code on a database of 1,000 tenants × 1,000 keys against one of 1,000,000
    // keys in `default`, each side verifying its own database's first 16 seeded keys (one per
    // tenant on the tenants side), so the keys differ in their tenant only.
    id: "cost-tenants",
    title: "1,000 tenants × 1,000 keys against a single tenant, VerifyKey cache hit of 16 seeded keys",
    atLeast: 0.97,
    on: { name: "many tenants (1,000 in a full run), 16 keys of 16 tenants", env: {}, dataset: "tenants" },
    off: { name: "one tenant, as many keys, 16 keys", env: {} },
    scenario: "verify-cache-hit-tenants",
    aliases: [],
  },
  {
    id: "cost-tenants-miss",
    title: "1,000 tenants × 1,000 keys against a single tenant, VerifyKey cache miss (a random seeded key)",
    atLeast: 0.97,
    on: { name: "many tenants (1,000 in a full run)", env: {}, dataset: "tenants" },
    off: { name: "one tenant, as many keys", env: {} },
    scenario: "verify-cache-miss-tenants",
    aliases: [],
  },
];

export const pairSelected = (pair: FeaturePair, only: readonly string[]): boolean =>
  only.length === 0 || only.some((part) => pair.id.includes(part) || pair.aliases.some((alias) => alias.includes(part)));

/** One round of one side: which of the side's processes served it, and what was measured. */
export interface FeatureRound {
  side: "on" | "off";
  round: number;
  process: number;
  run: RunRecord;
}

export interface FeatureCost {
  id: string;
  title: string;
  onName: string;
  offName: string;
  atLeast?: number;
  processesPerSide: number;
  rounds: FeatureRound[];
  /** Median saturated rate (successful calls/s) of each side's rounds. */
  onMedian?: number;
  offMedian?: number;
  /** onMedian / offMedian. */
  ratio?: number;
  /** Lowest and highest on/off ratio of the rounds taken in pairs (round i of each side). */
  roundRatioRange?: [number, number];
  /** (max - min) / median of each side's rates, in percent. */
  onSpreadPercent?: number;
  offSpreadPercent?: number;
  /** Median server CPU per successful call, µs: less sensitive to CPU taken by others than the rate. */
  onCpuMicros?: number;
  offCpuMicros?: number;
  problems: string[];
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const spreadPercent = (values: readonly number[]): number | undefined => {
  const m = median(values);
  return m === undefined || m === 0 ? undefined : Math.round((1000 * (Math.max(...values) - Math.min(...values))) / m) / 10;
};

/** Server CPU per successful call in µs, when both were measured. */
const cpuMicrosPerCall = (run: RunRecord): number | undefined =>
  run.serverCpuPercent !== undefined && run.okPerSecond ? (run.serverCpuPercent / 100 / run.okPerSecond) * 1e6 : undefined;

/**
 * The order of the rounds: A B, then B A, … (each side goes first as often as the other), and the
 * process of each side that serves round r (rotating when a side has several).
 */
export function roundSchedule(rounds: number, processesPerSide: number): Array<{ round: number; order: ["on", "off"] | ["off", "on"]; process: number }> {
  return Array.from({ length: rounds }, (_, i) => ({
    round: i + 1,
    order: i % 2 === 0 ? (["on", "off"] as ["on", "off"]) : (["off", "on"] as ["off", "on"]),
    process: i % processesPerSide,
  }));
}

export function summarizeFeatureCost(pair: FeaturePair, processesPerSide: number, rounds: FeatureRound[], problems: string[] = []): FeatureCost {
  const good = (side: "on" | "off") => rounds.filter((r) => r.side === side && r.run.okPerSecond !== undefined && r.run.problems.length === 0);
  const on = good("on");
  const off = good("off");
  const rates = (list: FeatureRound[]) => list.map((r) => r.run.okPerSecond!);
  const cpu = (list: FeatureRound[]) => median(list.map((r) => cpuMicrosPerCall(r.run)).filter((x): x is number => x !== undefined));
  const onMedian = median(rates(on));
  const offMedian = median(rates(off));
  const paired = on
    .map((r) => [r, off.find((o) => o.round === r.round)] as const)
    .filter((p): p is readonly [FeatureRound, FeatureRound] => p[1] !== undefined)
    .map(([a, b]) => a.run.okPerSecond! / b.run.okPerSecond!);
  const allProblems = [...problems, ...rounds.filter((r) => r.run.problems.length > 0).map((r) => `${r.side} round ${r.round}: ${r.run.problems.join("; ")}`)];
  const round1 = (x: number | undefined) => (x === undefined ? undefined : Math.round(x * 10) / 10);
  const result: FeatureCost = {
    id: pair.id,
    title: pair.title,
    onName: pair.on.name,
    offName: pair.off.name,
    processesPerSide,
    rounds,
    problems: allProblems,
  };
  if (pair.atLeast !== undefined) result.atLeast = pair.atLeast;
  if (onMedian !== undefined) result.onMedian = Math.round(onMedian);
  if (offMedian !== undefined) result.offMedian = Math.round(offMedian);
  if (onMedian !== undefined && offMedian) result.ratio = onMedian / offMedian;
  if (paired.length > 0) result.roundRatioRange = [Math.min(...paired), Math.max(...paired)];
  const onSpread = spreadPercent(rates(on));
  const offSpread = spreadPercent(rates(off));
  if (onSpread !== undefined) result.onSpreadPercent = onSpread;
  if (offSpread !== undefined) result.offSpreadPercent = offSpread;
  const onCpu = round1(cpu(on));
  const offCpu = round1(cpu(off));
  if (onCpu !== undefined) result.onCpuMicros = onCpu;
  if (offCpu !== undefined) result.offCpuMicros = offCpu;
  return result;
}
