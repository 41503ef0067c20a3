import { recordFromRow, type KeyRecord } from "../keys/key-record.js";
import type { SigilDb } from "../store/database.js";
import { findKey } from "../store/key-repository.js";
import { keyRecordBytes } from "./key-record-weight.js";
import { LruCache } from "./lru-cache.js";

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
 * Key records by id: a bounded in-memory cache in front of the store.
 * Unknown ids are negative-cached briefly so floods of made-up keys do not reach the database.
 * Invalidation (local mutations, the change feed) bumps an epoch, and a database read that started
 * before an invalidation never writes its possibly stale row into the cache.
 */
export class KeyDirectory {
  readonly #db: SigilDb;
  readonly #records: LruCache<string, KeyRecord>;
  readonly #unknown: LruCache<string, number>;
  readonly #unknownTtlMs: number;
  readonly #inflight = new Map<string, Promise<KeyRecord | undefined>>();
  readonly #observer: KeyCacheObserver | undefined;
  #epoch = 0;

  constructor(db: SigilDb, options: { capacity: number; maxBytes?: number; unknownCapacity?: number; unknownTtlMs?: number; observer?: KeyCacheObserver }) {
    this.#db = db;
    this.#observer = options.observer;
    const bytes = options.maxBytes === undefined ? undefined : { maxWeight: options.maxBytes, weigh: keyRecordBytes };
    this.#records = new LruCache(options.capacity, options.observer && (() => options.observer!.evicted()), bytes);
    this.#unknown = new LruCache(options.unknownCapacity ?? Math.min(options.capacity, 10_000));
    this.#unknownTtlMs = options.unknownTtlMs ?? 5_000;
  }

  /** The record, from cache when possible; undefined when no such key exists. */
  get(keyId: string, now = Date.now()): KeyRecord | undefined | Promise<KeyRecord | undefined> {
    const cached = this.#records.get(keyId);
    if (cached) {
      this.#observer?.hit();
      return cached;
    }
    const unknownUntil = this.#unknown.get(keyId);
    if (unknownUntil !== undefined && unknownUntil > now) {
      this.#observer?.unknownHit();
      return undefined;
    }
    this.#observer?.miss();
    return this.#load(keyId, now);
  }

  #load(keyId: string, now: number): Promise<KeyRecord | undefined> {
    const pending = this.#inflight.get(keyId);
    if (pending) return pending;
    const epoch = this.#epoch;
    const load = findKey(this.#db, keyId)
      .then((row) => {
        const record = row ? recordFromRow(row) : undefined;
        if (epoch === this.#epoch) {
          if (record) this.#records.set(keyId, record);
          else this.#unknown.set(keyId, now + this.#unknownTtlMs);
        }
        return record;
      })
      .finally(() => {
        if (this.#inflight.get(keyId) === load) this.#inflight.delete(keyId);
      });
    this.#inflight.set(keyId, load);
    return load;
  }

  /** Stores a record this process just wrote (issue, revoke): later reads see it at once. */
  put(record: KeyRecord): void {
    this.#epoch++;
    this.#inflight.delete(record.keyId);
    this.#unknown.delete(record.keyId);
    this.#records.set(record.keyId, record);
  }

  /** Forgets what is known of a key, so the next read goes to the store. */
  invalidate(keyId: string): void {
    this.#epoch++;
    this.#inflight.delete(keyId);
    this.#records.delete(keyId);
    this.#unknown.delete(keyId);
  }

  /** Forgets everything (a follower that lost its place in the change feed). */
  clear(): void {
    this.#epoch++;
    this.#inflight.clear();
    this.#records.clear();
    this.#unknown.clear();
  }

  get cachedCount(): number {
    return this.#records.size;
  }

  /** Estimated bytes of the cached records (0 when the cache has no byte bound). */
  get cachedBytes(): number {
    return this.#records.weight;
  }
}
