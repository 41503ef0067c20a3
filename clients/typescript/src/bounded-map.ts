/**
 * A Map of at most `maxEntries` entries: setting a new key when full pushes out the oldest one
 * (insertion order; setting a key again makes it the newest). 0 keeps nothing. `get` drops and
 * misses an entry its caller calls stale.
 */
export class BoundedMap<K, V> {
  readonly #maxEntries: number;
  readonly #entries = new Map<K, V>();

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: K, isStale: (value: V) => boolean): V | undefined {
    const value = this.#entries.get(key);
    if (value === undefined) return undefined;
    if (isStale(value)) {
      this.#entries.delete(key);
      return undefined;
    }
    return value;
  }

  set(key: K, value: V): void {
    if (this.#maxEntries <= 0) return;
    this.#entries.delete(key);
    while (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, value);
  }

  /** Deletes every entry whose value matches. */
  deleteWhere(matches: (value: V) => boolean): void {
    for (const [key, value] of this.#entries) if (matches(value)) this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}
