import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RevocationSet } from "../../clients/typescript/src/revocation-set.js";
import { backoffMs } from "../../clients/typescript/src/revocation-watcher.js";

const HOUR = 3_600_000;

describe("RevocationSet", () => {
  it("keeps a revocation exactly as long as tokens of that key may live", () => {
    const set = new RevocationSet({ retainMs: HOUR, maxEntries: 10 });
    set.add("a", 0, 1000);
    set.add("b", 30 * 60_000, 30 * 60_000);
    set.add("old", -HOUR, 1000); // all its tokens expired already: not even stored
    assert.deepEqual([set.has("a"), set.has("b"), set.has("old")], [true, true, false]);
    set.prune(HOUR - 1);
    assert.deepEqual([set.has("a"), set.has("b")], [true, true]);
    set.prune(HOUR);
    assert.deepEqual([set.has("a"), set.has("b"), set.size], [false, true, 1]);
    set.prune(HOUR + 30 * 60_000);
    assert.equal(set.size, 0);
  });

  it("stays under its cap and reports the overflow until the dropped revocation no longer matters", () => {
    const set = new RevocationSet({ retainMs: HOUR, maxEntries: 3 });
    for (const id of ["a", "b", "c"]) set.add(id, 0, 0);
    set.add("a", 0, 10); // a repeat is not growth
    assert.equal(set.overflowed(10), false);
    set.add("d", 1000, 1000);
    assert.deepEqual([set.size, set.has("d"), set.overflowed(1000)], [3, false, true]);
    assert.equal(set.overflowed(1000 + HOUR - 1), true);
    assert.equal(set.overflowed(1000 + HOUR), false);
    // Once old entries expire there is room again.
    set.add("e", HOUR + 5, HOUR + 5);
    assert.deepEqual([set.has("e"), set.size], [true, 1]);
  });
});

describe("backoffMs", () => {
  it("doubles from the first delay up to the cap, with jitter in the upper half", () => {
    for (let i = 0; i < 200; i++) {
      const first = backoffMs(1, 100, 5000);
      assert.ok(first >= 50 && first <= 100, String(first));
      const third = backoffMs(3, 100, 5000);
      assert.ok(third >= 200 && third <= 400, String(third));
      const capped = backoffMs(40, 100, 5000);
      assert.ok(capped >= 2500 && capped <= 5000, String(capped));
    }
  });
});
