import type { JWTPayload } from "jose";
import { BoundedMap } from "./bounded-map.js";

/**
 * Tokens whose signature and fixed claims already verified, by exact token string. A signature
 * belongs to the bytes it signs, so a token seen before needs no second Ed25519 check: only what
 * can change since (expiry, revocation of its key or signing key, the feed's currency) and what
 * depends on the call (audience, scopes) is checked again. Bounded by count and by token length;
 * the oldest entry goes first, and an entry past its `exp` is dropped when met.
 */
export interface VerifiedToken {
  readonly kid: string | undefined;
  readonly keyId: string;
  readonly subject: string;
  readonly scopes: readonly string[];
  readonly tokenId: string;
  readonly audiences: readonly string[];
  /** The `tenant` claim ("" when absent). */
  readonly tenantId: string;
  /** `exp` in seconds, as signed. */
  readonly exp: number;
  readonly claims: Readonly<JWTPayload>;
}

/** Sigil's JWTs are a few hundred characters; longer ones are verified every time rather than held. */
const MAX_CACHED_TOKEN_CHARS = 2048;

export class VerifiedTokenCache {
  readonly #entries: BoundedMap<string, VerifiedToken>;

  constructor(maxEntries: number) {
    this.#entries = new BoundedMap(maxEntries);
  }

  /** The entry of `token`, unless it is unknown or its `exp` (less the clock tolerance) has passed. */
  get(token: string, nowMs: number, toleranceMs: number): VerifiedToken | undefined {
    return this.#entries.get(token, (entry) => entry.exp * 1000 <= nowMs - toleranceMs);
  }

  add(token: string, entry: VerifiedToken): void {
    if (token.length <= MAX_CACHED_TOKEN_CHARS) this.#entries.set(token, entry);
  }
}
