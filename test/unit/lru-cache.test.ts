import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LruCache } from "../../src/cache/lru-cache.js";

describe("LruCache", () => {
  it("stays within its bound and evicts the least recently used entry", () => {
    const cache = new LruCache<string, number>(3);
    cache.set("a", 1);
    cache.set("b", 2);
    cache.set("c", 3);
    assert.equal(cache.get("a"), 1);
    cache.set("d", 4);
    assert.equal(cache.size, 3);
    assert.equal(cache.get("b"), undefined, "b was least recently used");
    assert.deepEqual([cache.get("a"), cache.get("c"), cache.get("d")], [1, 3, 4]);
    cache.set("a", 10);
    assert.equal(cache.size, 3);
    assert.equal(cache.get("a"), 10);
    assert.ok(cache.delete("a"));
    assert.throws(() => new LruCache(0));
  });

  it("with a weight bound, evicts the least recently used entries until the total fits, and keeps the newest", () => {
    let evicted = 0;
    const cache = new LruCache<string, string>(100, () => evicted++, { maxWeight: 10, weigh: (v) => v.length });
    cache.set("a", "xxx");
    cache.set("b", "xxx");
    cache.set("c", "xxx");
    assert.equal(cache.weight, 9);
    cache.get("a");
    cache.set("d", "xxxxx");
    assert.deepEqual([cache.get("b"), cache.get("c")], [undefined, undefined], "b and c were least recently used");
    assert.equal(cache.weight, 8);
    assert.equal(evicted, 2);
    cache.set("a", "x");
    assert.equal(cache.weight, 6, "a replaced value's weight is given back");
    assert.ok(cache.delete("d"));
    assert.equal(cache.weight, 1);
    cache.set("big", "x".repeat(50));
    assert.equal(cache.size, 1, "an entry over the bound on its own evicts the rest but stays");
    assert.equal(cache.get("big")?.length, 50);
    cache.clear();
    assert.equal(cache.weight, 0);
    assert.throws(() => new LruCache<string, string>(1, undefined, { maxWeight: 0, weigh: () => 1 }));
  });

  // The eviction reads the front through one long-lived iterator (see lru-cache.ts): it must agree
  // with a plain recency list through hits, replacements, deletes, weight evictions, clears and the
  // iterator running off the end, over many times the capacity.
  it("evicts exactly as a recency list would over a long mix of hits, sets, deletes and clears", () => {
    const capacity = 50;
    const weighOf = (v: number) => 1 + (v % 3);
    const cache = new LruCache<number, number>(capacity, undefined, { maxWeight: 90, weigh: weighOf });
    let order: number[] = [];
    const values = new Map<number, number>();
    const weightOf = () => order.reduce((sum, k) => sum + weighOf(values.get(k)!), 0);
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    for (let step = 0; step < 100_000; step++) {
      const r = random();
      const key = r % 150;
      const op = r % 100;
      if (op < 40) {
        const expected = values.get(key);
        assert.equal(cache.get(key), expected, `get ${key} at step ${step}`);
        if (expected !== undefined) order = [...order.filter((k) => k !== key), key];
      } else if (op < 97) {
        const value = step;
        if (values.has(key)) order = order.filter((k) => k !== key);
        else if (order.length >= capacity) values.delete(order.shift()!);
        order.push(key);
        values.set(key, value);
        while (weightOf() > 90 && order.length > 1) values.delete(order.shift()!);
        cache.set(key, value);
      } else if (op < 99) {
        assert.equal(cache.delete(key), values.delete(key));
        order = order.filter((k) => k !== key);
      } else if (step % 7 === 0) {
        cache.clear();
        order = [];
        values.clear();
      }
      assert.equal(cache.size, order.length, `size at step ${step}`);
    }
    assert.equal(cache.weight, weightOf());
    for (const k of order) assert.equal(cache.get(k), values.get(k));
  });
});
