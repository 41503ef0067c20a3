import { createLocalJWKSet, type JSONWebKeySet, type JWK, type JWTHeaderParameters, type FlattenedJWSInput } from "jose";

type KeyResolver = ReturnType<typeof createLocalJWKSet>;
export type ResolvedKey = Awaited<ReturnType<KeyResolver>>;

/** The JWKS could not be fetched and holds no key for the token: verification must fail closed. */
export class JwksUnavailableError extends Error {
  override readonly name = "JwksUnavailableError";
}

/**
 * Sigil's signing keys, fetched with GetJwks and cached. A token with an unknown `kid` triggers a
 * refetch (Sigil rotated its key), at most once per cooldown, so a flood of tokens with made-up
 * kids cannot turn into a flood of calls. Concurrent refetches share one call.
 */
export class JwksCache {
  readonly #fetch: () => Promise<JWK[]>;
  readonly #cooldownMs: number;
  readonly #now: () => number;
  #resolver: KeyResolver | undefined;
  #kids = new Set<string>();
  #lastFetchAt = -Infinity;
  #fetching: Promise<void> | undefined;

  constructor(fetchKeys: () => Promise<JWK[]>, options: { cooldownMs: number; now: () => number }) {
    this.#fetch = fetchKeys;
    this.#cooldownMs = options.cooldownMs;
    this.#now = options.now;
  }

  /** Key ids currently known. */
  get kids(): ReadonlySet<string> {
    return this.#kids;
  }

  /** Fetches the key set now (start-up), whatever the cooldown. */
  refresh(): Promise<void> {
    this.#fetching ??= (async () => {
      this.#lastFetchAt = this.#now();
      const keys = await this.#fetch();
      // Only signing keys with an algorithm: `alg` lets jose match a key to the token's header.
      const set: JSONWebKeySet = { keys: keys.filter((k) => typeof k.kid === "string" && (k.use === undefined || k.use === "sig")) };
      this.#resolver = createLocalJWKSet(set);
      this.#kids = new Set(set.keys.map((k) => k.kid!));
    })().finally(() => (this.#fetching = undefined));
    return this.#fetching;
  }

  /** A jose key resolver: refetches on an unknown kid (cooldown permitting), then resolves. */
  readonly getKey = async (header: JWTHeaderParameters, token: FlattenedJWSInput): Promise<ResolvedKey> => {
    const kid = header.kid;
    if (kid !== undefined && !this.#kids.has(kid) && this.#now() - this.#lastFetchAt >= this.#cooldownMs) {
      try {
        await this.refresh();
      } catch (err) {
        if (!this.#resolver) throw new JwksUnavailableError(`could not fetch Sigil's JWKS: ${(err as Error).message}`);
      }
    }
    if (!this.#resolver) throw new JwksUnavailableError("Sigil's JWKS has not been fetched yet");
    return this.#resolver(header, token);
  };
}
