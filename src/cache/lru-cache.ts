/**
 * Bounded least-recently-used cache on a Map (insertion order = recency order).
 * A hit moves the entry to the back; inserting past the bound evicts from the front.
 */
export class LruCache<K, V> {
  readonly #map = new Map<K, V>();
  readonly #capacity: number;
  readonly #onEvict: (() => void) | undefined;

  /** `onEvict` hears each entry pushed out by the bound (not deletes). */
  constructor(capacity: number, onEvict?: () => void) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be a positive integer");
    this.#capacity = capacity;
    this.#onEvict = onEvict;
  }

  get size(): number {
    return this.#map.size;
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
    if (this.#map.has(key)) this.#map.delete(key);
    else if (this.#map.size >= this.#capacity) {
      this.#map.delete(this.#map.keys().next().value as K);
      this.#onEvict?.();
    }
    this.#map.set(key, value);
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }
}
