// The key cache when full, in-process: CPU time per operation at the server's default of 50,000
// entries, after the cache has been churning (as it does under cache misses), for LruCache (a Map
// and a linked recency list) beside the two ways it kept its order in the Map before: delete and
// set again on a hit, the oldest read by a new iterator per eviction (which walks every deleted
// slot V8 still keeps at the table's front), or by one long-lived iterator. Two workloads: inserts
// that each evict (cache misses), and IssueKey's pattern (a hit on the admin key, then a new key
// stored and dropped again). Rounds alternate; each figure is a median.
//
//   node dist/bench/cache-eviction.js [--entries N] [--operations N] [--rounds N]
import { parseArgs } from "node:util";
import { LruCache } from "../src/cache/lru-cache.js";

const { values } = parseArgs({
  options: { entries: { type: "string", default: "50000" }, operations: { type: "string", default: "100000" }, rounds: { type: "string", default: "5" } },
});
const entries = Number(values.entries);
const operations = Number(values.operations);
const rounds = Number(values.rounds);

interface Cache {
  get(key: string): object | undefined;
  set(key: string, value: object): void;
  delete(key: string): boolean;
}

/** Recency in the Map's insertion order, as LruCache kept it before. */
class MapOrderLru implements Cache {
  readonly #map = new Map<string, object>();
  #oldest: Iterator<string> | undefined;
  constructor(
    readonly capacity: number,
    readonly longLivedIterator: boolean,
  ) {}
  get(key: string): object | undefined {
    const value = this.#map.get(key);
    if (value !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, value);
    }
    return value;
  }
  set(key: string, value: object): void {
    if (this.#map.has(key)) this.#map.delete(key);
    else if (this.#map.size >= this.capacity) this.#map.delete(this.#oldestKey());
    this.#map.set(key, value);
  }
  delete(key: string): boolean {
    return this.#map.delete(key);
  }
  #oldestKey(): string {
    if (!this.longLivedIterator) return this.#map.keys().next().value!;
    let next = this.#oldest?.next();
    if (next === undefined || next.done) {
      this.#oldest = this.#map.keys();
      next = this.#oldest.next();
    }
    return next.value as string;
  }
}

const variants: Record<string, () => Cache> = {
  "LruCache (Map + linked list)": () => new LruCache<string, object>(entries),
  "Map order, long-lived iterator": () => new MapOrderLru(entries, true),
  "Map order, new iterator (before)": () => new MapOrderLru(entries, false),
};

let next = 0;
const key = () => `k${(next++).toString(36).padStart(15, "0")}`;
const cpuMicros = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};
const value = {};
const workloads: Record<string, (cache: Cache, keys: string[]) => void> = {
  "insert that evicts": (cache, keys) => {
    for (const k of keys) cache.set(k, value);
  },
  "hit, then store and drop a key": (cache, keys) => {
    for (const k of keys) {
      cache.get("admin");
      cache.set(k, value);
      cache.delete(k);
    }
  },
};

const results = new Map<string, number[]>();
for (let round = 0; round < rounds; round++) {
  for (const [workload, run] of Object.entries(workloads)) {
    for (const [name, make] of Object.entries(variants)) {
      const cache = make();
      cache.set("admin", value);
      // Fill, then churn once through: the state a cache is in after a while of misses.
      for (let i = 0; i < 2 * entries; i++) {
        cache.get("admin");
        cache.set(key(), value);
      }
      const keys = Array.from({ length: operations }, key);
      const start = cpuMicros();
      run(cache, keys);
      const id = `${workload}|${name}`;
      results.set(id, [...(results.get(id) ?? []), (cpuMicros() - start) / operations]);
    }
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
console.log(`key cache when full, ${entries.toLocaleString("en-US")} entries, ${operations.toLocaleString("en-US")} operations, median of ${rounds} rounds (Node ${process.versions.node})`);
for (const [id, xs] of results) {
  const [workload, name] = id.split("|");
  console.log(`  ${workload!.padEnd(32)} ${name!.padEnd(34)} ${median(xs).toFixed(2)} µs CPU each`);
}
