import { LruCache, type CacheWeightBound } from "./lru-cache.js";

export interface LoadingCacheOptions<K, V> {
  /** Most values held. */
  readonly capacity: number;
  /** Hears each value pushed out by a bound (not invalidations). */
  readonly onEvict?: (() => void) | undefined;
  /** A bound on the values' total weight, beside their number. */
  readonly weight?: CacheWeightBound<V> | undefined;
  /**
   * Keys the loader found nothing for (it resolved undefined) are remembered as absent for `ttlMs`
   * (a negative cache of at most `capacity` keys), so floods of unknown keys cost one read each.
   * Without it, an absent key is read again at every use.
   */
  readonly absent?: { readonly capacity: number; readonly ttlMs: number };
  /**
   * The key to store a loaded value under, taken from the value itself (default: the key it was
   * loaded by). KeyDirectory's key ids are slices of the presented credential: stored as they are,
   * they would keep that string, secret and all, alive for as long as the key stays cached.
   */
  readonly keyOf?: (value: V) => K;
}

/**
 * A bounded LRU cache in front of a slow read (the database): a hit is synchronous; a miss starts
 * one load per key however many callers wait for it; and every invalidation bumps an epoch, so a
 * load that started before one never stores its possibly stale result.
 *
 * `V` is what is cached; `R` what the loader resolves: `V`, or `V | undefined` when a key may not
 * exist (see `absent`). Values are immutable and never undefined.
 */
export class LoadingCache<K, V, R extends V | undefined = V> {
  readonly #load: (key: K) => Promise<R>;
  readonly #values: LruCache<K, V>;
  /** Key → time until which it is known absent. */
  readonly #absent: LruCache<K, number> | undefined;
  readonly #absentTtlMs: number;
  readonly #keyOf: ((value: V) => K) | undefined;
  readonly #inflight = new Map<K, Promise<R>>();
  #epoch = 0;

  constructor(load: (key: K) => Promise<R>, options: LoadingCacheOptions<K, V>) {
    this.#load = load;
    this.#values = new LruCache(options.capacity, options.onEvict, options.weight);
    this.#absent = options.absent && new LruCache(options.absent.capacity);
    this.#absentTtlMs = options.absent?.ttlMs ?? 0;
    this.#keyOf = options.keyOf;
  }

  /** The cached value, or undefined; never loads (for callers that count hits and misses). */
  cached(key: K): V | undefined {
    return this.#values.get(key);
  }

  /** Whether the key is remembered as absent at `nowMs` (the negative cache). */
  knownAbsent(key: K, nowMs: number): boolean {
    const until = this.#absent?.get(key);
    return until !== undefined && until > nowMs;
  }

  /** The value: synchronous when cached (or known absent), else the load's promise. */
  get(key: K, nowMs?: number): V | R | Promise<R> {
    const value = this.#values.get(key);
    if (value !== undefined) return value;
    // Only reachable when R admits undefined: nothing else is ever remembered as absent.
    if (this.#absent && this.knownAbsent(key, nowMs ?? Date.now())) return undefined as R;
    return this.load(key, nowMs);
  }

  /** Reads the key (joining a read already in flight) and caches what it finds, unless invalidated meanwhile. */
  load(key: K, nowMs?: number): Promise<R> {
    const pending = this.#inflight.get(key);
    if (pending) return pending;
    const epoch = this.#epoch;
    const loading = this.#load(key)
      .then((value) => {
        if (epoch === this.#epoch) {
          if (value !== undefined) this.#values.set(this.#keyOf ? this.#keyOf(value as V) : key, value as V);
          else this.#absent?.set(key, (nowMs ?? Date.now()) + this.#absentTtlMs);
        }
        return value;
      })
      .finally(() => {
        if (this.#inflight.get(key) === loading) this.#inflight.delete(key);
      });
    this.#inflight.set(key, loading);
    return loading;
  }

  /** Stores a value this process just wrote: later reads see it at once. */
  put(key: K, value: V): void {
    this.#epoch++;
    this.#inflight.delete(key);
    this.#absent?.delete(key);
    this.#values.set(key, value);
  }

  /** Forgets the key, so its next use reads it again. */
  invalidate(key: K): void {
    this.#epoch++;
    this.#inflight.delete(key);
    this.#values.delete(key);
    this.#absent?.delete(key);
  }

  /** Forgets everything. */
  clear(): void {
    this.#epoch++;
    this.#inflight.clear();
    this.#values.clear();
    this.#absent?.clear();
  }

  /** Values cached. */
  get size(): number {
    return this.#values.size;
  }

  /** Their total weight (0 without a weight bound). */
  get weight(): number {
    return this.#values.weight;
  }
}
