import type { ConnectError, Transport } from "@connectrpc/connect";
import { decodeProtectedHeader, errors, jwtVerify, type JWK, type JWTPayload } from "jose";
import { VerifyReason } from "./gen/sigil/v1/key_service_pb.js";
import { SigningKeyState } from "./gen/sigil/v1/signing_key_pb.js";
import type { SigilTlsOptions } from "./client-tls.js";
import { openSigilClient, type SigilProtocol } from "./create-client.js";
import { JwksCache, JwksUnavailableError } from "./jwks-cache.js";
import { nonNegativeOption, positiveOption } from "./option-checks.js";
import { RevocationSet } from "./revocation-set.js";
import { RevocationWatcher } from "./revocation-watcher.js";
import { VerifiedTokenCache, type VerifiedToken } from "./verified-token-cache.js";

/**
 * Why a token did not verify offline: a value of the same `VerifyReason` enum that `verifyKey`
 * answers with, so one type (and `VerifyReason[reason]` for its name) serves both. The offline-only
 * values (ALGORITHM_NOT_ALLOWED, ISSUER_MISMATCH, LIFETIME_TOO_LONG, REVOCATIONS_STALE,
 * KEYS_UNAVAILABLE) are never answered by VerifyKey.
 */
export type OfflineVerifyFailure =
  /** Not a compact JWT, too long, or missing one of Sigil's claims. */
  | VerifyReason.MALFORMED
  /** The signature does not verify, or no published key has the token's `kid`. */
  | VerifyReason.BAD_SIGNATURE
  /** The token's `alg` is not in the verifier's allow-list. */
  | VerifyReason.ALGORITHM_NOT_ALLOWED
  /** `iss` is not the expected issuer, or (with `tenantId`) the `tenant` claim is not that tenant. */
  | VerifyReason.ISSUER_MISMATCH
  | VerifyReason.EXPIRED
  /** `nbf` is in the future (beyond the clock tolerance). */
  | VerifyReason.NOT_YET_VALID
  /** The token names audiences and none is the verifier's. */
  | VerifyReason.AUDIENCE_MISMATCH
  /** The token lives longer than `maxTokenTtlMs`: its revocation could be forgotten before it expires. */
  | VerifyReason.LIFETIME_TOO_LONG
  | VerifyReason.INSUFFICIENT_SCOPE
  /** The key the token derives from was revoked, or the signing key that signed it (an emergency rotation). */
  | VerifyReason.REVOKED
  /**
   * Fail-closed: the verifier cannot vouch that it knows every revocation (the feed has been down
   * longer than `staleAfterMs`, never came up, or more revocations arrived than `maxRevocations`).
   */
  | VerifyReason.REVOCATIONS_STALE
  /** The JWKS could not be fetched, so no key is known to check the signature with. */
  | VerifyReason.KEYS_UNAVAILABLE;

export type OfflineVerification =
  | {
      readonly valid: true;
      /** The API key the token was derived from. */
      readonly keyId: string;
      /** `sub`: the owner of that key. */
      readonly subject: string;
      readonly scopes: readonly string[];
      /** `jti`. */
      readonly tokenId: string;
      readonly audiences: readonly string[];
      /** The `tenant` claim: the tenant of the key ("" for a token derived before tokens named it). */
      readonly tenantId: string;
      readonly expireTime: Date;
      /** Every claim, for callers that need more (frozen: a token seen again answers with the same object). */
      readonly claims: Readonly<JWTPayload>;
    }
  | { readonly valid: false; readonly reason: OfflineVerifyFailure; readonly keyId?: string };

export interface OfflineVerifierOptions {
  /** Sigil's address: the gRPC listener for "grpc" (default), the HTTP listener for "connect" and "grpc-web". */
  readonly baseUrl?: string;
  readonly protocol?: SigilProtocol;
  /** A ready transport instead of baseUrl/protocol (interceptors, ...). */
  readonly transport?: Transport;
  /** For an `https://` baseUrl: the CA to trust, a client certificate for mTLS (default: system CAs). */
  readonly tls?: SigilTlsOptions;
  /** An API key holding `sigil:verify` (or `sigil:admin`): authorizes WatchRevocations. */
  readonly credential: string;
  /**
   * Expected `iss`: the issuer of the one tenant whose tokens this verifier accepts. Sigil gives
   * every tenant its own issuer (none shared), so this alone keeps other tenants' tokens out.
   * Default: "sigil" (Sigil's default SIGIL_ISSUER, the tenant `default`'s), or with `tenantId`
   * that tenant's default issuer under it: "sigil/tenants/<tenantId>". Set it when the server runs
   * with another --issuer or the tenant has a jwt_issuer of its own.
   */
  readonly issuer?: string;
  /**
   * Bind the verifier to one tenant: a token is accepted only if its `tenant` claim is this id
   * (and its `iss` is `issuer`); tokens without the claim are rejected. ISSUER_MISMATCH otherwise.
   */
  readonly tenantId?: string;
  /** Who this verifier is. A token with an audience verifies only if one of them is listed here. */
  readonly audience?: string | readonly string[];
  /** Allowed `alg` values. Default ["EdDSA"], what Sigil signs with. */
  readonly algorithms?: readonly string[];
  /** Clock skew allowed on exp and nbf. Default 5 s. */
  readonly clockToleranceMs?: number;
  /** Scopes every token must hold (verify() can add more). */
  readonly requiredScopes?: readonly string[];
  /** How long the revocation feed may be unreachable before verify() fails closed. Default 30 s. */
  readonly staleAfterMs?: number;
  /** Accept tokens while the feed is stale instead of failing closed. Default false. */
  readonly failOpen?: boolean;
  /** Sigil's longest token lifetime (SIGIL_TOKEN_MAX_TTL). Default 1 h. Longer-lived tokens are rejected. */
  readonly maxTokenTtlMs?: number;
  /** Least time between two JWKS fetches caused by unknown `kid`s. Default 30 s. */
  readonly jwksRefetchCooldownMs?: number;
  /** Reconnect back-off of the revocation feed. Default 100 ms doubling to 5 s. */
  readonly reconnect?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Most revoked keys remembered at once. Default 1,000,000. */
  readonly maxRevocations?: number;
  /**
   * Tokens whose signature verified, remembered (by exact string, until their `exp`) so that a
   * token seen again is not checked with Ed25519 again; revocation, expiry, audience and scopes
   * are checked on every call. Default 10,000; 0 turns it off.
   */
  readonly maxCachedTokens?: number;
  /** Called with each revocation-feed failure (it reconnects by itself); for logging. */
  readonly onFeedError?: (err: ConnectError) => void;
  /** Clock in ms (tests). */
  readonly now?: () => number;
}

export interface OfflineVerifierStatus {
  /** The feed confirmed this verifier up to date within `staleAfterMs`. */
  readonly current: boolean;
  readonly connected: boolean;
  /** When the feed last confirmed it (undefined: never). */
  readonly lastCurrentTime: Date | undefined;
  readonly revokedKeys: number;
}

const MAX_TOKEN_CHARS = 8192;
/** Sigil's tenant ids. */
const TENANT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** Sigil's default SIGIL_ISSUER. */
const DEFAULT_SERVER_ISSUER = "sigil";

/** The `iss` Sigil gives a tenant that has no jwt_issuer of its own, under the default SIGIL_ISSUER. */
function defaultIssuer(tenantId: string | undefined): string {
  return tenantId === undefined || tenantId === "default" ? DEFAULT_SERVER_ISSUER : `${DEFAULT_SERVER_ISSUER}/tenants/${tenantId}`;
}
const SIGIL_CLAIMS = ["sub", "iat", "nbf", "exp", "jti", "scope", "key_id"];
const PRUNE_INTERVAL_MS = 60_000;
/** When the feed names a new signing key, the JWKS is fetched after these delays until it holds it. */
const NEW_KEY_FETCH_DELAYS_MS = [0, 100, 400, 1500, 5000];
/** Revoked signing keys remembered (they are rare: each is an emergency rotation); the oldest go first. */
const MAX_REVOKED_SIGNING_KEYS = 10_000;

/**
 * Verifies Sigil's derived JWTs without calling Sigil: signatures against the cached JWKS, claims
 * locally, and revocation against a set kept current by WatchRevocations. A token whose parent key
 * was revoked is rejected as soon as the feed delivers the revocation (about one feed poll
 * interval). If the feed has been down longer than `staleAfterMs`, verify() fails closed with
 * REVOCATIONS_STALE unless `failOpen` is set.
 *
 *   const verifier = new OfflineVerifier({ baseUrl, credential: verifyKey, audience: "billing-api" });
 *   await verifier.start();
 *   const result = await verifier.verify(token, { requiredScopes: ["invoices:read"] });
 *   ...
 *   await verifier.close();
 */
export class OfflineVerifier {
  readonly #now: () => number;
  readonly #issuer: string;
  readonly #tenantId: string | undefined;
  readonly #audiences: readonly string[];
  readonly #algorithms: string[];
  readonly #toleranceMs: number;
  readonly #requiredScopes: readonly string[];
  readonly #staleAfterMs: number;
  readonly #failOpen: boolean;
  readonly #maxTokenTtlMs: number;
  readonly #jwks: JwksCache;
  readonly #revoked: RevocationSet;
  /**
   * Signing keys revoked by an emergency rotation, kept for the verifier's life: a forged token
   * may carry any `exp`, and a stale JWKS copy (another instance, an HTTP cache) could still list
   * the key, so "its tokens have expired by now" does not hold here.
   */
  readonly #revokedKids = new Set<string>();
  readonly #watcher: RevocationWatcher;
  readonly #verified: VerifiedTokenCache;
  readonly #closeClient: () => void;
  #pruneTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: OfflineVerifierOptions) {
    const credential = options.credential;
    if (typeof credential !== "string" || !/^\S{1,8192}$/.test(credential)) {
      throw new TypeError("OfflineVerifier: credential must be an API key (1 to 8192 characters, no spaces)");
    }
    this.#now = options.now ?? Date.now;
    const tenantId = options.tenantId;
    if (tenantId !== undefined && (typeof tenantId !== "string" || !TENANT_ID.test(tenantId))) {
      throw new TypeError("OfflineVerifier: tenantId must be a tenant id (1 to 63 characters of lowercase letters, digits and '-')");
    }
    this.#tenantId = tenantId;
    this.#issuer = options.issuer ?? defaultIssuer(tenantId);
    this.#audiences = options.audience === undefined ? [] : typeof options.audience === "string" ? [options.audience] : [...options.audience];
    this.#algorithms = [...(options.algorithms ?? ["EdDSA"])];
    if (this.#algorithms.length === 0 || this.#algorithms.some((a) => a === "none" || a.startsWith("HS"))) {
      throw new TypeError("OfflineVerifier: algorithms must list asymmetric JWS algorithms (Sigil signs with EdDSA)");
    }
    this.#toleranceMs = nonNegative(options.clockToleranceMs ?? 5000, "clockToleranceMs");
    this.#requiredScopes = [...(options.requiredScopes ?? [])];
    this.#staleAfterMs = positive(options.staleAfterMs ?? 30_000, "staleAfterMs");
    this.#failOpen = options.failOpen ?? false;
    this.#maxTokenTtlMs = positive(options.maxTokenTtlMs ?? 3_600_000, "maxTokenTtlMs");
    this.#verified = new VerifiedTokenCache(nonNegative(options.maxCachedTokens ?? 10_000, "maxCachedTokens"));

    const { client, close } = openSigilClient(options, "OfflineVerifier");
    this.#closeClient = close;
    this.#jwks = new JwksCache(async () => (await client.getJwks({})).keys.map(toJwk), {
      cooldownMs: nonNegative(options.jwksRefetchCooldownMs ?? 30_000, "jwksRefetchCooldownMs"),
      now: this.#now,
    });
    // A token of a key revoked at R was minted before R and expires by R + maxTokenTtl (+1 s of
    // whole-second rounding); tolerance covers the clock difference between Sigil and us.
    const retainMs = this.#maxTokenTtlMs + this.#toleranceMs + 1000;
    this.#revoked = new RevocationSet({ retainMs, maxEntries: positive(options.maxRevocations ?? 1_000_000, "maxRevocations") });
    this.#watcher = new RevocationWatcher({
      client,
      authorization: `Bearer ${credential}`,
      replayMs: retainMs,
      // Three heartbeats per staleness bound: one lost heartbeat does not make the verifier stale.
      heartbeatMs: Math.min(15_000, Math.max(200, Math.floor(this.#staleAfterMs / 3))),
      reconnect: {
        initialMs: positive(options.reconnect?.initialMs ?? 100, "reconnect.initialMs"),
        maxMs: positive(options.reconnect?.maxMs ?? 5000, "reconnect.maxMs"),
      },
      now: this.#now,
      onRevocation: (keyId, revokeTimeMs) => this.#revoked.add(keyId, revokeTimeMs, this.#now()),
      onSigningKeyChange: (kid, state) => this.#onSigningKeyChange(kid, state),
      onError: options.onFeedError,
    });
  }

  /**
   * Fetches the JWKS and opens the revocation feed; resolves once the feed has caught up. Rejects
   * if the JWKS cannot be fetched or the feed has not caught up within `timeoutMs` (Sigil
   * unreachable); the feed keeps retrying in the background until close(). A refused credential
   * (UNAUTHENTICATED, PERMISSION_DENIED: a wrong key, or one without `sigil:verify`) rejects at once
   * with the server's ConnectError and stops the feed; start() may be called again.
   */
  async start(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#closed) throw new Error("OfflineVerifier is closed");
    const timeoutMs = options.timeoutMs ?? 10_000;
    this.#watcher.start();
    this.#pruneTimer ??= setInterval(() => this.#revoked.prune(this.#now()), PRUNE_INTERVAL_MS);
    this.#pruneTimer.unref();
    // Both settle before start() answers, so a rejection leaves nothing of it in flight.
    const [jwks, feed] = await Promise.allSettled([this.#jwks.refresh(), this.#watcher.ready(timeoutMs)]);
    if (feed.status === "rejected") throw feed.reason;
    if (jwks.status === "rejected") throw jwks.reason;
  }

  async verify(token: string, options: { requiredScopes?: readonly string[]; audience?: string | readonly string[] } = {}): Promise<OfflineVerification> {
    if (typeof token !== "string" || token.length === 0 || token.length > MAX_TOKEN_CHARS) return fail(VerifyReason.MALFORMED);
    const now = this.#now();
    // A token seen before skips the signature and the fixed claims; what can change is checked below.
    const verified = this.#verified.get(token, now, this.#toleranceMs) ?? (await this.#verifySignature(token, now));
    if ("valid" in verified) return verified;
    const { keyId } = verified;
    // Also for a token seen before: its signing key may have been revoked since.
    if (this.#signerRevoked(verified.kid)) return fail(VerifyReason.REVOKED);
    if (verified.audiences.length > 0) {
      const ours = options.audience === undefined ? this.#audiences : typeof options.audience === "string" ? [options.audience] : options.audience;
      if (!verified.audiences.some((a) => ours.includes(a))) return fail(VerifyReason.AUDIENCE_MISMATCH, keyId);
    }
    if (this.#revoked.has(keyId)) return fail(VerifyReason.REVOKED, keyId);
    if (!this.#failOpen && !this.#revocationsCurrent(now)) return fail(VerifyReason.REVOCATIONS_STALE, keyId);
    for (const required of this.#requiredScopes) if (!verified.scopes.includes(required)) return fail(VerifyReason.INSUFFICIENT_SCOPE, keyId);
    for (const required of options.requiredScopes ?? []) if (!verified.scopes.includes(required)) return fail(VerifyReason.INSUFFICIENT_SCOPE, keyId);
    const { subject, scopes, tokenId, audiences, tenantId, exp, claims } = verified;
    return { valid: true, keyId, subject, scopes, tokenId, audiences, tenantId, expireTime: new Date(exp * 1000), claims };
  }

  /** The signature and the claims fixed at signing; a token that passes is remembered. */
  async #verifySignature(token: string, now: number): Promise<VerifiedToken | OfflineVerification> {
    const kid = kidOf(token);
    // Before the signature: a revoked signing key's tokens are refused without a JWKS fetch.
    if (this.#signerRevoked(kid)) return fail(VerifyReason.REVOKED);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#jwks.getKey, {
        algorithms: this.#algorithms,
        issuer: this.#issuer,
        clockTolerance: this.#toleranceMs / 1000,
        currentDate: new Date(now),
        requiredClaims: SIGIL_CLAIMS,
      }));
    } catch (err) {
      return fail(classifyJoseError(err));
    }
    const { key_id: keyId, scope, sub, jti, exp, iat, tenant } = payload;
    if (tenant !== undefined && typeof tenant !== "string") return fail(VerifyReason.MALFORMED);
    if (this.#tenantId !== undefined && tenant !== this.#tenantId) return fail(VerifyReason.ISSUER_MISMATCH);
    if (typeof keyId !== "string" || typeof scope !== "string" || typeof sub !== "string" || typeof jti !== "string") return fail(VerifyReason.MALFORMED);
    if (typeof exp !== "number" || typeof iat !== "number") return fail(VerifyReason.MALFORMED);
    if ((exp - iat) * 1000 > this.#maxTokenTtlMs + 1000) return fail(VerifyReason.LIFETIME_TOO_LONG, keyId);
    const audiences = payload.aud === undefined ? [] : Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    // Frozen: the same arrays and claims answer every later call with this token.
    const entry: VerifiedToken = {
      kid,
      keyId,
      subject: sub,
      scopes: Object.freeze(scope.split(" ").filter((s) => s.length > 0)),
      tokenId: jti,
      audiences: Object.freeze([...audiences]),
      tenantId: tenant ?? "",
      exp,
      claims: Object.freeze(payload),
    };
    this.#verified.add(token, entry);
    return entry;
  }

  status(): OfflineVerifierStatus {
    const last = this.#watcher.lastCurrentAt;
    return {
      current: this.#revocationsCurrent(this.#now()),
      connected: this.#watcher.connected,
      lastCurrentTime: last === -Infinity ? undefined : new Date(last),
      revokedKeys: this.#revoked.size,
    };
  }

  /** Stops following the feed and closes the connection. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#pruneTimer);
    await this.#watcher.close();
    this.#closeClient();
  }

  /**
   * The feed told of a signing-key change: a revoked key is rejected from now on (and the JWKS is
   * fetched again without it); a new key the cache does not know yet is fetched at once, so its
   * tokens do not wait for the unknown-kid cooldown. A retirement changes nothing here.
   */
  #onSigningKeyChange(kid: string, state: SigningKeyState): void {
    if (state === SigningKeyState.REVOKED) {
      this.#revokedKids.delete(kid);
      this.#revokedKids.add(kid);
      if (this.#revokedKids.size > MAX_REVOKED_SIGNING_KEYS) this.#revokedKids.delete(this.#revokedKids.values().next().value!);
      // A failed fetch keeps the old set; the revoked set rejects the key meanwhile.
      this.#jwks.refresh().catch(() => undefined);
    } else if (state === SigningKeyState.ACTIVE) {
      void this.#fetchNewKey(kid);
    }
  }

  /**
   * Fetches the JWKS until it holds `kid`: behind a load balancer the call may reach an instance
   * that has not heard of the new key yet (it will within its change-feed window).
   */
  async #fetchNewKey(kid: string): Promise<void> {
    for (const delayMs of NEW_KEY_FETCH_DELAYS_MS) {
      if (this.#closed || this.#jwks.kids.has(kid) || this.#revokedKids.has(kid)) return;
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
      await this.#jwks.refresh().catch(() => undefined);
    }
  }

  #signerRevoked(kid: string | undefined): boolean {
    return this.#revokedKids.size > 0 && this.#revokedKids.has(kid ?? "");
  }

  #revocationsCurrent(now: number): boolean {
    return now - this.#watcher.lastCurrentAt <= this.#staleAfterMs && !this.#revoked.overflowed(now);
  }
}

/** The proto Jwk as a plain JWK, without the fields proto3 left empty. */
function toJwk(k: { kty: string; crv: string; x: string; kid: string; alg: string; use: string }): JWK {
  const jwk: JWK = { kty: k.kty };
  for (const field of ["crv", "x", "kid", "alg", "use"] as const) if (k[field]) jwk[field] = k[field];
  return jwk;
}

function kidOf(token: string): string | undefined {
  try {
    return decodeProtectedHeader(token).kid;
  } catch {
    return undefined; // malformed: jwtVerify says so
  }
}

function fail(reason: OfflineVerifyFailure, keyId?: string): OfflineVerification {
  return keyId === undefined ? { valid: false, reason } : { valid: false, reason, keyId };
}

function classifyJoseError(err: unknown): OfflineVerifyFailure {
  if (err instanceof JwksUnavailableError) return VerifyReason.KEYS_UNAVAILABLE;
  if (err instanceof errors.JWTExpired) return VerifyReason.EXPIRED;
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "nbf" || err.claim === "iat") return VerifyReason.NOT_YET_VALID;
    if (err.claim === "iss") return VerifyReason.ISSUER_MISMATCH;
    return VerifyReason.MALFORMED;
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return VerifyReason.ALGORITHM_NOT_ALLOWED;
  if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
    return VerifyReason.BAD_SIGNATURE;
  }
  return VerifyReason.MALFORMED;
}

const positive = (value: number, name: string): number => positiveOption(value, name, "OfflineVerifier");
const nonNegative = (value: number, name: string): number => nonNegativeOption(value, name, "OfflineVerifier");
