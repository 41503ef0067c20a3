import { verifyingKeyOf, type VerifyingKey } from "../keys/verifying-key.js";
import type { OpenedDatabase } from "../store/open-database.js";
import { findVerifyingKey } from "../store/verifying-key-repository.js";
import { keyRecordBytes } from "./key-record-weight.js";
import { LoadingCache } from "./loading-cache.js";

/** Hears each lookup's result and each eviction (Prometheus metrics, src/observability). */
export interface KeyCacheObserver {
  /** The record was cached. */
  hit(): void;
  /** The key was cached as unknown (negative cache): no database read either. */
  unknownHit(): void;
  /** Read from the database. */
  miss(): void;
  evicted(): void;
}

/**
 * Keys by id, as verification sees them (VerifyingKey: not whole records): a bounded in-memory
 * cache in front of the store (a LoadingCache), which a miss reads with one narrow statement.
 * Unknown ids are negative-cached briefly so floods of made-up keys do not reach the database.
 * Invalidation (local mutations, the change feed) bumps an epoch, and a database read that started
 * before an invalidation never writes its possibly stale row into the cache.
 */
export class KeyDirectory {
  readonly #cache: LoadingCache<string, VerifyingKey, VerifyingKey | undefined>;
  readonly #observer: KeyCacheObserver | undefined;

  constructor({ db, dialect }: OpenedDatabase, options: { capacity: number; maxBytes?: number; unknownCapacity?: number; unknownTtlMs?: number; observer?: KeyCacheObserver }) {
    const observer = (this.#observer = options.observer);
    this.#cache = new LoadingCache((keyId: string) => findVerifyingKey(db, dialect, keyId), {
      capacity: options.capacity,
      onEvict: observer && (() => observer.evicted()),
      weight: options.maxBytes === undefined ? undefined : { maxWeight: options.maxBytes, weigh: keyRecordBytes },
      absent: { capacity: options.unknownCapacity ?? Math.min(options.capacity, 10_000), ttlMs: options.unknownTtlMs ?? 5_000 },
      // The row's own id, not the slice of the presented credential the lookup was made with.
      keyOf: (key) => key.keyId,
    });
  }

  /** The record, from cache when possible; undefined when no such key exists. */
  get(keyId: string, now = Date.now()): VerifyingKey | undefined | Promise<VerifyingKey | undefined> {
    const cached = this.#cache.cached(keyId);
    if (cached) {
      this.#observer?.hit();
      return cached;
    }
    if (this.#cache.knownAbsent(keyId, now)) {
      this.#observer?.unknownHit();
      return undefined;
    }
    this.#observer?.miss();
    return this.#cache.load(keyId, now);
  }

  /** Stores (the verifying part of) a record this process just wrote (issue, revoke): later reads see it at once. */
  put(record: VerifyingKey): void {
    this.#cache.put(record.keyId, verifyingKeyOf(record));
  }

  /** Forgets what is known of a key, so the next read goes to the store. */
  invalidate(keyId: string): void {
    this.#cache.invalidate(keyId);
  }

  /** Forgets everything (a follower that lost its place in the change feed). */
  clear(): void {
    this.#cache.clear();
  }

  get cachedCount(): number {
    return this.#cache.size;
  }

  /** Estimated bytes of the cached records (0 when the cache has no byte bound). */
  get cachedBytes(): number {
    return this.#cache.weight;
  }
}
