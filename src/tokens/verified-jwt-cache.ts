import { LruCache } from "../cache/lru-cache.js";
import type { DerivedJwtClaims, JwtFailure } from "./derived-jwt.js";

/**
 * Claims of derived JWTs whose signature and issuer already verified, by exact token string.
 * A resource service sees the same token on many requests; an Ed25519 verification costs about
 * 100 µs here, a lookup well under one. What depends on the moment or the request (exp, nbf,
 * audience) is checked on every hit; the parent key, and the signing key (`kid`: it may have been
 * revoked since), are checked by the caller every time.
 */
export interface VerifiedJwt {
  readonly claims: DerivedJwtClaims;
  /** The signing key that signed it. */
  readonly kid: string;
}

export class VerifiedJwtCache {
  readonly #entries: LruCache<string, VerifiedJwt>;

  constructor(capacity: number) {
    this.#entries = new LruCache(capacity);
  }

  get(token: string): VerifiedJwt | undefined {
    return this.#entries.get(token);
  }

  set(token: string, verified: VerifiedJwt): void {
    this.#entries.set(token, verified);
  }

  delete(token: string): void {
    this.#entries.delete(token);
  }
}

/** The checks jose makes on time claims and Sigil's audience rule, for claims verified earlier. */
export function checkVerifiedClaims(claims: DerivedJwtClaims, audience: string, nowMs: number): JwtFailure | undefined {
  const now = Math.floor(nowMs / 1000);
  if (claims.exp <= now) return "EXPIRED";
  if (claims.nbf > now) return "NOT_YET_VALID";
  if (claims.aud !== undefined) {
    const audiences: readonly string[] = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!audience || !audiences.includes(audience)) return "AUDIENCE_MISMATCH";
  }
  return undefined;
}
