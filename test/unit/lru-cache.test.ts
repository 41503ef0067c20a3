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
});
