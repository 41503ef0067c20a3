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
 *
 * A string is unique per tenant, not globally (a tenant may import a string another tenant manages
 * without learning that it does). Restricted to a tenant, the lookup finds that tenant's key;
 * unrestricted, a string several tenants hold finds the earliest imported of them.
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
  find(sha256: Buffer, nowMs: number, tenantId?: string): string | undefined | Promise<string | undefined> {
    const lookupHash = this.#hasher.lookupHash(sha256).toString("base64");
    const cacheKey = `${tenantId ?? ""}|${lookupHash}`;
    const known = this.#known.get(cacheKey);
    if (known !== undefined) return known;
    const unknownUntil = this.#unknown.get(cacheKey);
    if (unknownUntil !== undefined && unknownUntil > nowMs) return undefined;
    const pending = this.#inflight.get(cacheKey);
    if (pending) return pending;
    const load = this.#load(sha256, lookupHash, cacheKey, nowMs, tenantId).finally(() => this.#inflight.delete(cacheKey));
    this.#inflight.set(cacheKey, load);
    return load;
  }

  async #load(sha256: Buffer, lookupHash: string, cacheKey: string, nowMs: number, tenantId: string | undefined): Promise<string | undefined> {
    const hashes = this.#hasher.versions.map((v) => (v === this.#hasher.currentVersion ? lookupHash : this.#hasher.lookupHash(sha256, v).toString("base64")));
    let query = this.#db
      .selectFrom("keys")
      .select(["key_id", "lookup_hash"])
      .where((eb) => eb.or([eb("lookup_hash", "in", hashes), eb("previous_lookup_hash", "in", hashes)]));
    if (tenantId !== undefined) query = query.where("tenant_id", "=", tenantId);
    // Bounded: each tenant holds a string at most once as current secret, rarely more as an old one.
    const rows = await query.orderBy("create_time", "asc").orderBy("key_id", "asc").limit(64).execute();
    // A string that is one key's current secret and another's old one: the current one wins.
    const row = rows.find((r) => r.lookup_hash !== null && hashes.includes(r.lookup_hash)) ?? rows[0];
    if (row) this.#known.set(cacheKey, row.key_id);
    else this.#unknown.set(cacheKey, nowMs + this.#unknownTtlMs);
    return row?.key_id;
  }

  /** This process just imported a key: forget that its string was unknown. */
  imported(lookupHash: Buffer, keyId: string, tenantId: string): void {
    const hash = lookupHash.toString("base64");
    this.#unknown.delete(`|${hash}`);
    this.#unknown.delete(`${tenantId}|${hash}`);
    // An unrestricted lookup may now find an earlier key of another tenant: it reads again.
    this.#known.delete(`|${hash}`);
    this.#known.set(`${tenantId}|${hash}`, keyId);
  }
}
