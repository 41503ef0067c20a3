/**
 * The revoked key ids an offline verifier must remember: only those whose derived tokens may still
 * be unexpired. A token derived from a key was minted before the key was revoked and lives at most
 * `retainMs` (the longest token lifetime plus clock tolerance), so an entry can go `retainMs` after
 * its revocation. A hard cap bounds memory even under a mass revocation; a revocation that does
 * not fit makes the set "overflowed" until that revocation's tokens have expired, and the verifier
 * fails closed meanwhile rather than forget it.
 */
export class RevocationSet {
  readonly #retainMs: number;
  readonly #maxEntries: number;
  /** key id -> revoke time (ms, server clock). */
  readonly #revoked = new Map<string, number>();
  /** Until when a dropped revocation may still matter (0: none was dropped). */
  #overflowUntil = 0;

  constructor(options: { retainMs: number; maxEntries: number }) {
    this.#retainMs = options.retainMs;
    this.#maxEntries = options.maxEntries;
  }

  get size(): number {
    return this.#revoked.size;
  }

  has(keyId: string): boolean {
    return this.#revoked.has(keyId);
  }

  /** True while a revocation that did not fit under the cap may still have live tokens. */
  overflowed(nowMs: number): boolean {
    return nowMs < this.#overflowUntil;
  }

  add(keyId: string, revokeTimeMs: number, nowMs: number): void {
    const until = revokeTimeMs + this.#retainMs;
    if (until <= nowMs) return; // every token of that key has expired already
    if (!this.#revoked.has(keyId) && this.#revoked.size >= this.#maxEntries) {
      this.prune(nowMs);
      if (this.#revoked.size >= this.#maxEntries) {
        this.#overflowUntil = Math.max(this.#overflowUntil, until);
        return;
      }
    }
    this.#revoked.set(keyId, Math.max(revokeTimeMs, this.#revoked.get(keyId) ?? 0));
  }

  /** Drops entries whose tokens have all expired. */
  prune(nowMs: number): void {
    for (const [keyId, time] of this.#revoked) {
      if (time + this.#retainMs <= nowMs) this.#revoked.delete(keyId);
    }
  }
}
