// Ory Talos's published k6 "stress" profile (its docs' Benchmarks page and test/load/k6_load_test.js),
// as data: closed-loop virtual users in ramping-vus scenarios. Read scenarios ramp 1 → 18 → 53 → 105,
// hold, and ramp down; each of the five write scenarios ramps to 45; two functional scenarios keep one
// VU. At the hold that is 105 + 105 + 5 × 45 + 2 = 437 VUs over 5 minutes, the figure Talos reports.

/** One k6 ramping-vus stage: move linearly to `target` VUs over `durationMs`. */
export interface Stage {
  readonly durationMs: number;
  readonly target: number;
}

/** What a VU of a scenario does in one iteration (bench/talos/iterations.ts). */
export type IterationName = "read" | "keyLifecycle" | "importLifecycle" | "selfRevokeLifecycle" | "batchImportLifecycle" | "tenantIsolation" | "macaroonDerivation" | "paginationCursor" | "batchBoundary";

export interface TalosScenario {
  /** Talos's scenario name. */
  readonly name: string;
  readonly exec: IterationName;
  readonly stages: readonly Stage[];
}

const s = (seconds: number, target: number): Stage => ({ durationMs: seconds * 1000, target });
const READ: readonly Stage[] = [s(30, 18), s(60, 53), s(60, 105), s(120, 105), s(30, 0)];
const WRITE: readonly Stage[] = [s(30, 7), s(60, 22), s(60, 45), s(120, 45), s(30, 0)];
const FUNCTIONAL: readonly Stage[] = [s(30, 1), s(240, 1), s(30, 0)];

export const TALOS_STRESS: readonly TalosScenario[] = [
  { name: "read_operations", exec: "read", stages: READ },
  { name: "key_lifecycle", exec: "keyLifecycle", stages: WRITE },
  { name: "import_lifecycle", exec: "importLifecycle", stages: WRITE },
  { name: "self_revoke_lifecycle", exec: "selfRevokeLifecycle", stages: WRITE },
  { name: "batch_import_lifecycle", exec: "batchImportLifecycle", stages: WRITE },
  // Talos's "nid_isolation": a key of tenant A must not verify for tenant B.
  { name: "nid_isolation", exec: "tenantIsolation", stages: WRITE },
  { name: "macaroon_derivation", exec: "macaroonDerivation", stages: READ },
  { name: "pagination_cursor", exec: "paginationCursor", stages: FUNCTIONAL },
  { name: "batch_boundary", exec: "batchBoundary", stages: FUNCTIONAL },
];

/** k6 starts a ramping-vus scenario at one VU (its default startVUs). */
const START_VUS = 1;

/** The VUs a scenario wants `atMs` after the start (k6 interpolates linearly within a stage). */
export function vusAt(stages: readonly Stage[], atMs: number): number {
  let from = START_VUS;
  let start = 0;
  for (const stage of stages) {
    if (atMs < start + stage.durationMs) return Math.round(from + ((stage.target - from) * (atMs - start)) / stage.durationMs);
    from = stage.target;
    start += stage.durationMs;
  }
  return 0;
}

export const profileDurationMs = (scenarios: readonly TalosScenario[]): number =>
  Math.max(...scenarios.map((sc) => sc.stages.reduce((sum, stage) => sum + stage.durationMs, 0)));

/** The same shape in `factor` of the time (a shorter run for checking the harness; the report says so). */
export function scaleProfile(scenarios: readonly TalosScenario[], factor: number): TalosScenario[] {
  return scenarios.map((sc) => ({ ...sc, stages: sc.stages.map((st) => ({ durationMs: Math.max(1, Math.round(st.durationMs * factor)), target: st.target })) }));
}

/** The most VUs running at once over the profile (sampled every 100 ms). */
export function peakVus(scenarios: readonly TalosScenario[]): number {
  let peak = 0;
  for (let t = 0; t < profileDurationMs(scenarios); t += 100) peak = Math.max(peak, scenarios.reduce((sum, sc) => sum + vusAt(sc.stages, t), 0));
  return peak;
}

/** Talos's published reference figures (single commercial process, PostgreSQL 16, Apple M4 Max). */
export const TALOS_REFERENCE = {
  hardware: "Apple M4 Max, one commercial Talos process, PostgreSQL 16 (Talos's docs, Benchmarks page)",
  totalRequests: 5_000_000,
  peakThroughput: 16_766,
  overallP99Ms: 123,
  verifyP95Ms: 48,
  verifyP99Ms: 95,
  errorRatePercent: 0,
  peakVus: 437,
  keyCreationsPerSecond: 493,
  verificationsPerSecond: 3_797,
  tokenDerivationsPerSecond: 3_797,
} as const;
