// The 10-million-key mode's verdicts (bench/scale-targets.ts): thresholds, the start-up median, notes.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RunRecord } from "../../bench/measure.js";
import { compareWithLimits } from "../../bench/results.js";
import { judgeScaleTargets, median, type ScaleFigures } from "../../bench/scale-targets.js";

function run(scenarioId: string, okPerSecond: number, extra: Partial<RunRecord> = {}): RunRecord {
  return {
    scenarioId,
    title: scenarioId,
    label: scenarioId,
    target: "sigil-main",
    protocol: "grpc",
    path: "/x",
    level: "throughput",
    concurrency: "4×32",
    round: 1,
    problems: [],
    okPerSecond,
    result: { requestsPerSecond: okPerSecond, errors: 0, latencyMs: { p50: 1, p90: 1, p99: 1, p999: 1, max: 1 } } as unknown as RunRecord["result"],
    ...extra,
  };
}

function figures(missRate: number, issueRate: number, over: Partial<ScaleFigures> = {}): ScaleFigures {
  const runs = [run("limit-grpc-verify", 10_000), run("verify-cache-miss", missRate, { limitId: "limit-grpc-verify" }), run("issue-key", issueRate, { limitId: "limit-grpc-issue" })];
  return { keyCount: 10_000_000, seedSeconds: 80, startupSeconds: [1.2, 3, 1.5], comparisons: compareWithLimits(runs), runs, peakRssMb: 400, noiseThresholdPercent: 25, ...over };
}

const status = (f: ScaleFigures): Record<string, string> => Object.fromEntries(judgeScaleTargets(f).map((t) => [t.description.split(",")[0]!, t.status]));

describe("bench 10M-key targets", () => {
  it("passes each goal at its threshold and misses just below it", () => {
    assert.deepEqual(status(figures(4_000, 3_000)), {
      Seeding: "pass",
      "VerifyKey cache miss": "pass",
      IssueKey: "pass",
      "Start-up": "pass",
      "Server peak RSS (start-up and every run)": "n/a",
    });
    assert.deepEqual(status(figures(3_999, 2_999, { seedSeconds: 101, startupSeconds: [2.1, 2.2, 1] })), {
      Seeding: "miss",
      "VerifyKey cache miss": "miss",
      IssueKey: "miss",
      "Start-up": "miss",
      "Server peak RSS (start-up and every run)": "n/a",
    });
  });

  it("judges start-up on the median of the starts", () => {
    assert.equal(median([1.2, 3, 1.5]), 1.5);
    assert.equal(median([1, 2, 3, 4]), 2.5);
    assert.match(judgeScaleTargets(figures(4_000, 3_000)).find((t) => t.description.startsWith("Start-up"))!.measured, /^1\.50 s/);
  });

  it("says when fewer keys were seeded than the goal is for, and when a run failed", () => {
    const small = judgeScaleTargets(figures(4_000, 3_000, { keyCount: 200_000, seedSeconds: 1 }));
    assert.ok(small.every((t) => t.note?.includes("measured on 200,000 keys")));
    const failed = figures(4_000, 3_000);
    const issue = failed.runs.find((r) => r.scenarioId === "issue-key")!;
    (issue.result as { errors: number }).errors = 5;
    assert.equal(judgeScaleTargets(failed).find((t) => t.description.startsWith("IssueKey"))!.status, "n/a");
  });
});
