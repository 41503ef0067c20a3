// The feature-cost pairs of make bench (issue #11): rounds alternate which side goes first and
// rotate over a side's servers; the verdict is the ratio of the two sides' medians, so one slow
// round (a burst of other work) moves neither median much, and failed rounds are left out.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FEATURE_PAIRS, median, pairSelected, roundSchedule, summarizeFeatureCost, type FeatureRound } from "../../bench/feature-cost.js";
import type { RunRecord } from "../../bench/measure.js";

const tracing = FEATURE_PAIRS.find((p) => p.id === "cost-tracing")!;

function round(side: "on" | "off", n: number, okPerSecond: number, serverCpuPercent = 100, problems: string[] = []): FeatureRound {
  return { side, round: n, process: 1, run: { okPerSecond, serverCpuPercent, problems } as unknown as RunRecord };
}

describe("bench feature-cost pairs", () => {
  it("alternates the side that goes first and rotates over each side's servers", () => {
    assert.deepEqual(
      roundSchedule(4, 2).map((r) => [r.round, r.order.join(","), r.process]),
      [
        [1, "on,off", 0],
        [2, "off,on", 1],
        [3, "on,off", 0],
        [4, "off,on", 1],
      ],
    );
    assert.deepEqual(new Set(roundSchedule(3, 1).map((r) => r.process)), new Set([0]));
  });

  it("judges the ratio of the medians, with the paired rounds' range, spread and CPU per call", () => {
    const rounds = [
      round("on", 1, 9000),
      round("off", 1, 10000),
      round("off", 2, 6000, 60), // a noisy round: others took the core
      round("on", 2, 8800),
      round("on", 3, 9200),
      round("off", 3, 10200),
    ];
    const cost = summarizeFeatureCost(tracing, 1, rounds);
    assert.equal(cost.onMedian, 9000);
    assert.equal(cost.offMedian, 10000);
    assert.equal(cost.ratio, 0.9);
    assert.deepEqual(cost.roundRatioRange, [9000 / 10000, 8800 / 6000]);
    assert.equal(cost.offSpreadPercent, 42);
    assert.equal(cost.onCpuMicros, 111.1);
    assert.equal(cost.offCpuMicros, 100);
    assert.deepEqual(cost.problems, []);
  });

  it("leaves failed rounds out of the medians and reports them", () => {
    const cost = summarizeFeatureCost(tracing, 1, [round("on", 1, 5000, 100, ["12 calls failed"]), round("on", 2, 8000), round("off", 1, 10000), round("off", 2, 10000)]);
    assert.equal(cost.onMedian, 8000);
    assert.equal(cost.ratio, 0.8);
    assert.deepEqual(cost.problems, ["on round 1: 12 calls failed"]);
    assert.equal(summarizeFeatureCost(tracing, 1, []).ratio, undefined);
  });

  it("selects pairs by id or by the former scenario names", () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([]), undefined);
    assert.deepEqual(FEATURE_PAIRS.filter((p) => pairSelected(p, ["traced"])).map((p) => p.id), ["cost-tracing"]);
    assert.deepEqual(FEATURE_PAIRS.filter((p) => pairSelected(p, ["cost"])).length, FEATURE_PAIRS.length);
    assert.deepEqual(FEATURE_PAIRS.filter((p) => pairSelected(p, ["verify-cache-miss"])), []);
  });
});
