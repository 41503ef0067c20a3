import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LoadingCache } from "../../src/cache/loading-cache.js";

/** A loader whose reads the test resolves (or fails) one by one, as a database answers. */
function controlledLoader<V>() {
  const reads: Array<{ key: string; resolve: (v: V) => void; reject: (err: Error) => void }> = [];
  const load = (key: string) => new Promise<V>((resolve, reject) => reads.push({ key, resolve, reject }));
  return { reads, load };
}

describe("LoadingCache", () => {
  it("a hit is synchronous; a miss starts one read per key, however many callers wait for it", async () => {
    const { reads, load } = controlledLoader<string>();
    const cache = new LoadingCache<string, string>(load, { capacity: 10 });
    const first = cache.get("a");
    const second = cache.get("a");
    assert.ok(first instanceof Promise && second instanceof Promise);
    assert.equal(first, second, "the same in-flight read");
    assert.equal(reads.length, 1);
    reads[0]!.resolve("A");
    assert.deepEqual(await Promise.all([first, second]), ["A", "A"]);
    assert.equal(cache.get("a"), "A", "synchronous once cached");
    assert.equal(cache.cached("a"), "A");
    assert.equal(reads.length, 1);
    assert.equal(cache.size, 1);
  });

  it("a read that started before an invalidation, a put or a clear does not store what it read", async () => {
    const { reads, load } = controlledLoader<string>();
    const cache = new LoadingCache<string, string>(load, { capacity: 10 });
    for (const change of [(c: typeof cache) => c.invalidate("a"), (c: typeof cache) => c.clear()]) {
      const stale = cache.get("a");
      change(cache);
      // A read after the change is a new one: the old one is no longer joined.
      const fresh = cache.get("a");
      assert.notEqual(stale, fresh);
      reads.at(-2)!.resolve("old");
      assert.equal(await stale, "old", "its callers still get their answer");
      assert.equal(cache.cached("a"), undefined, "but it is not kept");
      reads.at(-1)!.resolve("new");
      assert.equal(await fresh, "new");
      assert.equal(cache.cached("a"), "new");
      cache.invalidate("a");
    }
    // Any invalidation counts (one epoch for all keys: cheap, and never keeps a stale value).
    const other = cache.get("a");
    cache.invalidate("other");
    reads.at(-1)!.resolve("read before");
    await other;
    assert.equal(cache.cached("a"), undefined);
    const racing = cache.get("b");
    cache.put("b", "written");
    reads.at(-1)!.resolve("read before the write");
    await racing;
    assert.equal(cache.get("b"), "written", "what this process wrote wins over a read begun before it");
  });

  it("a failed read is not cached and the next use reads again; a cached value survives reads failing elsewhere", async () => {
    const { reads, load } = controlledLoader<string>();
    const cache = new LoadingCache<string, string>(load, { capacity: 10 });
    const known = cache.get("known");
    reads[0]!.resolve("K");
    await known;
    const failing = cache.get("down");
    reads[1]!.reject(new Error("database unreachable"));
    await assert.rejects(failing as Promise<string>, /database unreachable/);
    assert.equal(cache.cached("down"), undefined);
    assert.ok(cache.get("down") instanceof Promise, "read again");
    assert.equal(cache.get("known"), "K", "answered without a read");
    assert.equal(reads.length, 3);
  });

  it("with `absent`, a key the loader found nothing for is remembered for ttlMs; without it, read at every use", async () => {
    let reads = 0;
    const negative = new LoadingCache<string, string, string | undefined>(async () => {
      reads++;
      return undefined;
    }, { capacity: 10, absent: { capacity: 10, ttlMs: 1000 } });
    assert.equal(await negative.get("x", 5000), undefined);
    assert.equal(negative.knownAbsent("x", 5999), true);
    assert.equal(negative.get("x", 5999), undefined, "synchronous while remembered");
    assert.equal(negative.knownAbsent("x", 6000), false, "forgotten after ttlMs");
    assert.ok(negative.get("x", 6000) instanceof Promise);
    assert.equal(reads, 2);
    negative.put("x", "now it exists");
    assert.equal(negative.knownAbsent("x", 6001), false, "a put forgets that it was absent");
    assert.equal(negative.get("x", 6001), "now it exists");

    let plainReads = 0;
    const plain = new LoadingCache<string, string, string | undefined>(async () => {
      plainReads++;
      return undefined;
    }, { capacity: 10 });
    await plain.get("x");
    await plain.get("x");
    assert.equal(plainReads, 2);
  });

  it("keeps its LRU bounds: count and weight, with evictions reported", async () => {
    let evicted = 0;
    const cache = new LoadingCache<string, string>(async (key) => key.repeat(3), { capacity: 3, onEvict: () => evicted++, weight: { maxWeight: 7, weigh: (v) => v.length } });
    for (const key of ["a", "b", "c"]) await cache.get(key);
    assert.deepEqual([cache.size, cache.weight, evicted], [2, 6, 1], "weight 9 > 7: the oldest went");
    assert.equal(cache.cached("a"), undefined);
    const counted = new LoadingCache<number, number>(async (n) => n, { capacity: 2 });
    for (const n of [1, 2, 3]) await counted.get(n);
    assert.deepEqual([counted.size, counted.cached(1), counted.cached(3)], [2, undefined, 3]);
  });
  it("with `keyOf`, stores a loaded value under the key the value names, not the one it was loaded by", async () => {
    // Objects as keys make the difference visible: KeyDirectory's string keys are equal either way,
    // but the one it loaded by is a slice of a presented credential that must not stay referenced.
    const loadedBy = { id: "a" };
    const own = { id: "a" };
    const cache = new LoadingCache<{ id: string }, { key: { id: string }; v: string }>(async () => ({ key: own, v: "A" }), { capacity: 10, keyOf: (value) => value.key });
    assert.deepEqual(await cache.load(loadedBy), { key: own, v: "A" });
    assert.equal(cache.cached(loadedBy), undefined, "not kept under the key it was loaded by");
    assert.equal(cache.cached(own)?.v, "A");
  });
});
