// Issue #5's comparisons: the core scenarios (VerifyKey cache hit and miss, IssueKey) again on
// `serve --workers 1` and `--workers 2` (both on cores 0 and 1), and on PostgreSQL (1 worker, core 0).
// They have no limit of their own: the report sets each beside its counterpart instead.
import type { Scenario, ScenarioTarget } from "./scenarios.js";

/** Ids of the core scenarios every comparison repeats. */
export const COMPARED_SCENARIO_IDS = ["verify-cache-hit", "verify-cache-miss", "issue-key"] as const;
export type ComparedScenarioId = (typeof COMPARED_SCENARIO_IDS)[number];

export interface ComparedSetup {
  target: ScenarioTarget;
  /** Prefix of the scenario ids: `<prefix>-<core scenario id>`. */
  prefix: string;
  /** How the server runs, appended to titles. */
  describes: string;
}

export const WORKERS_1: ComparedSetup = { target: "sigil-workers-1", prefix: "workers1", describes: "1 worker on cores 0,1" };
export const WORKERS_2: ComparedSetup = { target: "sigil-workers-2", prefix: "workers2", describes: "2 workers on cores 0,1" };
export const POSTGRES: ComparedSetup = { target: "sigil-postgres", prefix: "postgres", describes: "PostgreSQL" };

export const COMPARISON_TARGETS: readonly ScenarioTarget[] = [WORKERS_1.target, WORKERS_2.target, POSTGRES.target];

export const comparedId = (comparison: ComparedSetup, id: ComparedScenarioId): string => `${comparison.prefix}-${id}`;

export function comparisonScenarios(core: readonly Scenario[]): Scenario[] {
  return [WORKERS_1, WORKERS_2, POSTGRES].flatMap((comparison) =>
    COMPARED_SCENARIO_IDS.map((id) => {
      const base = core.find((s) => s.id === id);
      if (base === undefined) throw new Error(`no core scenario ${id}`);
      // No limit of their own, and no open-loop runs (those are the main table's).
      const { limitId: _noLimit, openLoop: _noOpenLoop, ...rest } = base;
      return {
        ...rest,
        id: comparedId(comparison, id),
        title: `${base.title} (${comparison.describes})`,
        label: `${base.label}, ${comparison.describes}`,
        target: comparison.target,
      };
    }),
  );
}
