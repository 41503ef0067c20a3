import type { ImportedKeyHasher } from "../keys/imported-key-hasher.js";
import type { SigilDb } from "../store/database.js";
import { LruCache } from "./lru-cache.js";

/**
 * Finds the key id of an imported key from the SHA-256 of the presented string, by its lookup hash
 * (current or previous secret, any configured server-secret version). Found ids are cached (an id
 * never changes; whether the string still verifies is decided against the key's record). Strings
 * that match nothing are negative-cached for a few seconds, so a flood of made-up imported-looking
 * keys costs one database read per distinct string, not one per request. A key imported by another
 * process becomes findable here when that entry expires (at most `unknownTtlMs`).
 */
export class ImportedKeyIndex {
  readonly #db: SigilDb;
  readonly #hasher: ImportedKeyHasher;
  readonly #known: LruCache<string, string>;
  readonly #unknown: LruCache<string, number>;
  readonly #unknownTtlMs: number;
  readonly #inflight = new Map<string, Promise<string | undefined>>();

  constructor(db: SigilDb, hasher: ImportedKeyHasher, options: { capacity: number; unknownCapacity?: number; unknownTtlMs?: number }) {
    this.#db = db;
    this.#hasher = hasher;
    this.#known = new LruCache(options.capacity);
    this.#unknown = new LruCache(options.unknownCapacity ?? Math.min(options.capacity, 10_000));
    this.#unknownTtlMs = options.unknownTtlMs ?? 5_000;
  }

  /** The key id whose current or previous secret is the string with this SHA-256, if any. */
  find(sha256: Buffer, nowMs: number): string | undefined | Promise<string | undefined> {
    const cacheKey = this.#hasher.lookupHash(sha256).toString("base64");
    const known = this.#known.get(cacheKey);
    if (known !== undefined) return known;
    const unknownUntil = this.#unknown.get(cacheKey);
    if (unknownUntil !== undefined && unknownUntil > nowMs) return undefined;
    const pending = this.#inflight.get(cacheKey);
    if (pending) return pending;
    const load = this.#load(sha256, cacheKey, nowMs).finally(() => this.#inflight.delete(cacheKey));
    this.#inflight.set(cacheKey, load);
    return load;
  }

  async #load(sha256: Buffer, cacheKey: string, nowMs: number): Promise<string | undefined> {
    const hashes = this.#hasher.versions.map((v) => (v === this.#hasher.currentVersion ? cacheKey : this.#hasher.lookupHash(sha256, v).toString("base64")));
    const rows = await this.#db
      .selectFrom("keys")
      .select(["key_id", "lookup_hash"])
      .where((eb) => eb.or([eb("lookup_hash", "in", hashes), eb("previous_lookup_hash", "in", hashes)]))
      .limit(2)
      .execute();
    // A string that is one key's current secret and another's old one: the current one wins.
    const row = rows.find((r) => r.lookup_hash !== null && hashes.includes(r.lookup_hash)) ?? rows[0];
    if (row) this.#known.set(cacheKey, row.key_id);
    else this.#unknown.set(cacheKey, nowMs + this.#unknownTtlMs);
    return row?.key_id;
  }

  /** This process just imported a key: forget that its string was unknown. */
  imported(lookupHash: Buffer, keyId: string): void {
    const cacheKey = lookupHash.toString("base64");
    this.#unknown.delete(cacheKey);
    this.#known.set(cacheKey, keyId);
  }
}
