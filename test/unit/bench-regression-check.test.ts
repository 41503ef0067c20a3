// make bench-check's verdict: a saturated ratio that fell by more than 10 points, or one the
// committed report has and the new run lacks, fails; a rise or a small fall passes.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkRatios, formatRatioChecks, ratiosHeld } from "../../bench/regression-check.js";
import type { BenchResults, Comparison } from "../../bench/results.js";

function results(ratios: Record<string, number>, { errors = 0, level = "throughput" as const } = {}): BenchResults {
  const comparisons = Object.entries(ratios).map(
    ([scenarioId, ratio]): Comparison => ({
      run: { scenarioId, level, result: { errors } } as unknown as Comparison["run"],
      ratio,
    }),
  );
  return { comparisons } as unknown as BenchResults;
}

describe("bench-check", () => {
  it("passes rises and falls within 10 points, fails a larger fall", () => {
    const committed = results({ "verify-cache-hit": 0.7, "verify-cache-miss": 0.3, "verify-jwt": 0.5 });
    const checks = checkRatios(committed, results({ "verify-cache-hit": 0.61, "verify-cache-miss": 0.35, "verify-jwt": 0.39 }));
    assert.deepEqual(
      checks.map((c) => [c.scenarioId, c.status, c.fellByPoints]),
      [
        ["verify-cache-hit", "ok", 9],
        ["verify-cache-miss", "ok", -5],
        ["verify-jwt", "fell", 11],
      ],
    );
    assert.equal(ratiosHeld(checks), false);
    assert.match(formatRatioChecks(checks), /fell\s+verify-jwt\s+committed\s+50%\s+now\s+39%\s+fell 11 points/);
    assert.equal(ratiosHeld(checkRatios(committed, results({ "verify-cache-hit": 0.7, "verify-cache-miss": 0.3, "verify-jwt": 0.45 }))), true);
  });

  it("fails a ratio the new run did not measure, or measured with errors, unless --only left it out", () => {
    const committed = results({ "verify-cache-hit": 0.7, "issue-key": 0.16 });
    const withErrors = results({ "verify-cache-hit": 0.8 });
    withErrors.comparisons.push(...results({ "issue-key": 0.9 }, { errors: 3 }).comparisons);
    const checks = checkRatios(committed, withErrors);
    assert.deepEqual(checks.map((c) => c.status), ["ok", "not measured"]);
    assert.equal(ratiosHeld(checks), false);
    const only = checkRatios(committed, results({ "verify-cache-hit": 0.8 }), { selected: (id) => id.includes("verify") });
    assert.deepEqual(only.map((c) => c.scenarioId), ["verify-cache-hit"]);
    assert.equal(ratiosHeld(only), true);
  });

  it("ignores 1x1 ratios and refuses an empty check", () => {
    const committed = results({ "verify-cache-hit": 0.9 }, { level: "latency" as never });
    assert.deepEqual(checkRatios(committed, results({})), []);
    assert.equal(ratiosHeld([]), false);
  });
});
