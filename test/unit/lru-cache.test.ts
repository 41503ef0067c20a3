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
});
