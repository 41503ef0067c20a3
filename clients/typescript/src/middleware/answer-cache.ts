import type { SigilIdentity } from "./identity.js";

interface Entry {
  readonly identity: SigilIdentity;
  readonly storedAt: number;
  /** The credential's own expiry (ms), or Infinity. */
  readonly expiresAt: number;
}

/**
 * Valid VerifyKey answers, by a digest of (credential, client IP, audience, required scopes), for
 * at most `maxEntries` entries (the oldest go first) and a time-to-live the caller passes on each
 * lookup: long while the revocation feed is current, short otherwise. Only valid answers are kept;
 * which of them may be kept at all is SigilAuth's decision.
 */
export class AnswerCache {
  readonly #maxEntries: number;
  readonly #entries = new Map<string, Entry>();

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string, nowMs: number, ttlMs: number): SigilIdentity | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (nowMs - entry.storedAt >= ttlMs || nowMs >= entry.expiresAt) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.identity;
  }

  set(key: string, identity: SigilIdentity, nowMs: number): void {
    if (this.#maxEntries <= 0) return;
    this.#entries.delete(key); // re-inserted at the end: the newest
    while (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, { identity, storedAt: nowMs, expiresAt: identity.expireTime?.getTime() ?? Infinity });
  }

  /** Forgets every answer about these keys (and tokens derived from them). */
  forgetKeys(keyIds: ReadonlySet<string>): void {
    if (keyIds.size === 0) return;
    for (const [key, entry] of this.#entries) if (keyIds.has(entry.identity.keyId)) this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}
