/** A bound on the total size of a cache's values, beside its bound on their number. */
export interface CacheWeightBound<V> {
  /** Most total weight (bytes, estimated) the cache holds. */
  readonly maxWeight: number;
  /** The weight of a value; the same value must always weigh the same (values are immutable). */
  readonly weigh: (value: V) => number;
}

/**
 * Bounded least-recently-used cache on a Map (insertion order = recency order).
 * A hit moves the entry to the back; inserting past a bound (entries, and total weight when it has
 * one) evicts from the front. Weights are recomputed from the values rather than stored, so a
 * weighted cache costs no memory per entry beyond the Map's.
 */
export class LruCache<K, V> {
  readonly #map = new Map<K, V>();
  readonly #capacity: number;
  readonly #onEvict: (() => void) | undefined;
  readonly #bound: CacheWeightBound<V> | undefined;
  #weight = 0;

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
    const value = this.#map.get(key);
    if (value !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    const bound = this.#bound;
    const old = this.#map.get(key);
    if (old !== undefined) {
      this.#map.delete(key);
      if (bound) this.#weight -= bound.weigh(old);
    } else if (this.#map.size >= this.#capacity) {
      this.#evictOldest();
    }
    this.#map.set(key, value);
    if (bound) {
      this.#weight += bound.weigh(value);
      // The newest entry stays even when it alone is over the bound: a cache that cannot hold
      // what it was just given would turn every read of it into a miss.
      while (this.#weight > bound.maxWeight && this.#map.size > 1) this.#evictOldest();
    }
  }

  delete(key: K): boolean {
    const value = this.#map.get(key);
    if (value === undefined) return false;
    this.#map.delete(key);
    if (this.#bound) this.#weight -= this.#bound.weigh(value);
    return true;
  }

  clear(): void {
    this.#map.clear();
    this.#weight = 0;
  }

  #evictOldest(): void {
    const [key, value] = this.#map.entries().next().value as [K, V];
    this.#map.delete(key);
    if (this.#bound) this.#weight -= this.#bound.weigh(value);
    this.#onEvict?.();
  }
}
