// `make bench-check`: each saturated ratio of a fresh run (Sigil over its limit, measured side by
// side) against the committed report's. A ratio that fell by more than the allowed points fails,
// so later work cannot quietly lose what an earlier round won.
import type { BenchResults } from "./results.js";

export interface RatioCheck {
  scenarioId: string;
  /** Ratios to the limit (1 = as fast as the bare server). */
  committed: number;
  current?: number;
  /** committed − current, in percentage points (positive: it fell). */
  fellByPoints?: number;
  status: "ok" | "fell" | "not measured";
}

export const DEFAULT_ALLOWED_DROP_POINTS = 10;

/** Saturated ratios only: 1×1 ratios are dominated by the round trip and too noisy to guard on. */
function saturatedRatios(results: BenchResults): Map<string, number> {
  const ratios = new Map<string, number>();
  for (const c of results.comparisons) {
    if (c.run.level === "throughput" && c.ratio !== undefined && (c.run.result?.errors ?? 0) === 0) ratios.set(c.run.scenarioId, c.ratio);
  }
  return ratios;
}

/**
 * Every scenario with a saturated ratio in the committed report, checked in the current run.
 * `selected` limits the check to the scenarios a partial run (`--only`) measured on purpose; the
 * others are left out instead of counting as not measured.
 */
export function checkRatios(
  committed: BenchResults,
  current: BenchResults,
  options: { allowedDropPoints?: number; selected?: (scenarioId: string) => boolean } = {},
): RatioCheck[] {
  const allowed = options.allowedDropPoints ?? DEFAULT_ALLOWED_DROP_POINTS;
  const now = saturatedRatios(current);
  const checks: RatioCheck[] = [];
  for (const [scenarioId, before] of saturatedRatios(committed)) {
    if (options.selected && !options.selected(scenarioId)) continue;
    const after = now.get(scenarioId);
    if (after === undefined) {
      checks.push({ scenarioId, committed: before, status: "not measured" });
      continue;
    }
    const fellByPoints = Math.round((before - after) * 1000) / 10;
    checks.push({ scenarioId, committed: before, current: after, fellByPoints, status: fellByPoints > allowed ? "fell" : "ok" });
  }
  return checks;
}

/** True when the check passes: nothing fell, and everything the committed report holds was measured. */
export const ratiosHeld = (checks: readonly RatioCheck[]): boolean => checks.length > 0 && checks.every((c) => c.status === "ok");

export function formatRatioChecks(checks: readonly RatioCheck[], allowedDropPoints = DEFAULT_ALLOWED_DROP_POINTS): string {
  const pct = (x: number | undefined): string => (x === undefined ? "–" : `${Math.round(x * 100)}%`);
  const lines = checks.map((c) => {
    const change = c.fellByPoints === undefined ? "" : c.fellByPoints > 0 ? `fell ${c.fellByPoints} points` : `rose ${-c.fellByPoints} points`;
    return `${c.status.padEnd(12)}  ${c.scenarioId.padEnd(28)}  committed ${pct(c.committed).padStart(4)}  now ${pct(c.current).padStart(4)}  ${change}`;
  });
  return [`saturated ratios to the limit against the committed report (a fall of more than ${allowedDropPoints} points fails):`, ...lines].join("\n");
}
