import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { peakVus, profileDurationMs, scaleProfile, TALOS_STRESS, vusAt } from "../../bench/talos/stress-profile.js";

describe("bench: Ory Talos's stress profile", () => {
  it("follows k6's ramping-vus stages: from one VU, linear within a stage, to the published 437 VUs over 5 minutes", () => {
    const read = TALOS_STRESS.find((s) => s.name === "read_operations")!.stages;
    assert.equal(vusAt(read, 0), 1, "k6 starts at startVUs = 1");
    assert.equal(vusAt(read, 15_000), 10, "halfway through 1 → 18 over 30 s");
    assert.equal(vusAt(read, 30_000), 18);
    assert.equal(vusAt(read, 200_000), 105, "the hold");
    assert.equal(vusAt(read, 285_000), 53, "halfway down");
    assert.equal(vusAt(read, 300_000), 0, "the end");
    assert.equal(profileDurationMs(TALOS_STRESS), 300_000);
    assert.equal(peakVus(TALOS_STRESS), 437, "105 read + 105 macaroon + 5 × 45 write + 2 functional");
    assert.equal(TALOS_STRESS.length, 9);
  });

  it("a scaled run keeps the shape in less time", () => {
    const tenth = scaleProfile(TALOS_STRESS, 0.1);
    assert.equal(profileDurationMs(tenth), 30_000);
    assert.equal(peakVus(tenth), 437);
    assert.equal(vusAt(tenth[0]!.stages, 3_000), 18);
  });
});
