import { BoundedMap } from "../bounded-map.js";
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
  readonly #entries: BoundedMap<string, Entry>;

  constructor(maxEntries: number) {
    this.#entries = new BoundedMap(maxEntries);
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string, nowMs: number, ttlMs: number): SigilIdentity | undefined {
    return this.#entries.get(key, (entry) => nowMs - entry.storedAt >= ttlMs || nowMs >= entry.expiresAt)?.identity;
  }

  set(key: string, identity: SigilIdentity, nowMs: number): void {
    this.#entries.set(key, { identity, storedAt: nowMs, expiresAt: identity.expireTime?.getTime() ?? Infinity });
  }

  /** Forgets every answer about these keys (and tokens derived from them). */
  forgetKeys(keyIds: ReadonlySet<string>): void {
    if (keyIds.size > 0) this.#entries.deleteWhere((entry) => keyIds.has(entry.identity.keyId));
  }

  clear(): void {
    this.#entries.clear();
  }
}
