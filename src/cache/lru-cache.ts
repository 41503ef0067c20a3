/** A bound on the total size of a cache's values, beside its bound on their number. */
export interface CacheWeightBound<V> {
  /** Most total weight (bytes, estimated) the cache holds. */
  readonly maxWeight: number;
  /** The weight of a value; the same value must always weigh the same (values are immutable). */
  readonly weigh: (value: V) => number;
}

/** One entry, in the recency list: `newer` towards the most recently used end. */
interface Entry<K, V> {
  readonly key: K;
  readonly value: V;
  older: Entry<K, V> | undefined;
  newer: Entry<K, V> | undefined;
}

/**
 * Bounded least-recently-used cache: a Map from key to entry, and the entries in a doubly linked
 * recency list. A hit moves its entry to the newest end; inserting past a bound (entries, and
 * total weight when it has one) evicts from the oldest end. Weights are recomputed from the values
 * rather than stored.
 *
 * The order is kept in the list, not in the Map's insertion order (delete and set again on every
 * hit, the oldest read by a Map iterator), because V8 leaves a deleted entry's slot in place until
 * it rebuilds the table: at 50,000 entries a new iterator walked tens of thousands of dead slots
 * to find the oldest entry (35-46 µs per eviction), and IssueKey's pattern (the admin key's hit,
 * then a new key stored and dropped) cost ~82 µs. Now a hit changes no Map, and an eviction is
 * one Map delete: under 1 µs for either (node dist/bench/cache-eviction.js).
 */
export class LruCache<K, V> {
  readonly #map = new Map<K, Entry<K, V>>();
  readonly #capacity: number;
  readonly #onEvict: (() => void) | undefined;
  readonly #bound: CacheWeightBound<V> | undefined;
  #weight = 0;
  #newest: Entry<K, V> | undefined;
  #oldest: Entry<K, V> | undefined;

  /** `onEvict` hears each entry pushed out by a bound (not deletes). */
  constructor(capacity: number, onEvict?: () => void, bound?: CacheWeightBound<V>) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be a positive integer");
    if (bound && !(bound.maxWeight > 0)) throw new RangeError("maxWeight must be positive");
    this.#capacity = capacity;
    this.#onEvict = onEvict;
    this.#bound = bound;
  }

  get size(): number {
    return this.#map.size;
  }

  /** Total weight of the values (0 without a weight bound). */
  get weight(): number {
    return this.#weight;
  }

  get(key: K): V | undefined {
    const entry = this.#map.get(key);
    if (entry === undefined) return undefined;
    if (entry !== this.#newest) {
      this.#unlink(entry);
      this.#linkNewest(entry);
    }
    return entry.value;
  }

  set(key: K, value: V): void {
    const bound = this.#bound;
    const old = this.#map.get(key);
    if (old !== undefined) {
      this.#remove(old);
    } else if (this.#map.size >= this.#capacity) {
      this.#evictOldest();
    }
    const entry: Entry<K, V> = { key, value, older: undefined, newer: undefined };
    this.#map.set(key, entry);
    this.#linkNewest(entry);
    if (bound) {
      this.#weight += bound.weigh(value);
      // The newest entry stays even when it alone is over the bound: a cache that cannot hold
      // what it was just given would turn every read of it into a miss.
      while (this.#weight > bound.maxWeight && this.#map.size > 1) this.#evictOldest();
    }
  }

  delete(key: K): boolean {
    const entry = this.#map.get(key);
    if (entry === undefined) return false;
    this.#remove(entry);
    return true;
  }

  clear(): void {
    this.#map.clear();
    this.#newest = this.#oldest = undefined;
    this.#weight = 0;
  }

  /** Only called with at least one entry. */
  #evictOldest(): void {
    this.#remove(this.#oldest!);
    this.#onEvict?.();
  }

  #remove(entry: Entry<K, V>): void {
    this.#unlink(entry);
    this.#map.delete(entry.key);
    if (this.#bound) this.#weight -= this.#bound.weigh(entry.value);
  }

  #unlink(entry: Entry<K, V>): void {
    if (entry.newer) entry.newer.older = entry.older;
    else this.#newest = entry.older;
    if (entry.older) entry.older.newer = entry.newer;
    else this.#oldest = entry.newer;
    entry.older = entry.newer = undefined;
  }

  #linkNewest(entry: Entry<K, V>): void {
    entry.older = this.#newest;
    if (this.#newest) this.#newest.newer = entry;
    else this.#oldest = entry;
    this.#newest = entry;
  }
}
