import { createHash } from "node:crypto";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import type { SigilTlsOptions } from "../client-tls.js";
import { openSigilClient, type SigilClient, type SigilProtocol } from "../create-client.js";
import { CredentialKind, VerifyReason, type VerifyKeyResponse } from "../gen/sigil/v1/key_service_pb.js";
import { OfflineVerifier } from "../offline-verifier.js";
import { nonNegativeOption, positiveOption } from "../option-checks.js";
import { RevocationSet } from "../revocation-set.js";
import { RevocationWatcher } from "../revocation-watcher.js";
import { AnswerCache } from "./answer-cache.js";
import { isPlausibleCredential } from "./credential.js";
import { denialFor, missingCredential, secondsUntil, sigilUnavailable, type SigilDenial } from "./denial.js";
import { identityFromResponse, type SigilIdentity } from "./identity.js";

export interface SigilAuthOptions {
  /** Sigil's address: the gRPC listener for "grpc" (default), the HTTP listener for "connect" and "grpc-web". */
  readonly baseUrl?: string;
  readonly protocol?: SigilProtocol;
  /** For an `https://` baseUrl: the CA to trust, a client certificate for mTLS. */
  readonly tls?: SigilTlsOptions;
  /** A ready transport instead of baseUrl/protocol/tls. */
  readonly transport?: Transport;
  /**
   * This service's own API key with the `sigil:verify` scope. With it, cached answers are dropped as
   * soon as WatchRevocations reports their key revoked, so answers can be cached for `cache.ttlMs`;
   * without it only for `cache.ttlWithoutFeedMs`. It also enables `offlineJwt`.
   */
  readonly verifierKey?: string;
  /** The audience this service is: tokens with an audience verify only when it matches. */
  readonly audience?: string;
  /** Scopes every request needs; routes and methods add their own. */
  readonly requiredScopes?: readonly string[];
  /** The header that carries the credential: `authorization` (default, `Bearer <credential>`) or another (`x-api-key`, the whole value). */
  readonly header?: string;
  /** `realm` of the WWW-Authenticate challenge of the HTTP adapters. Default "sigil". */
  readonly realm?: string;
  /** The local cache of valid answers, or `false` for a VerifyKey call per request. */
  readonly cache?:
    | false
    | {
        /** Most answers kept (the oldest go first). Default 10,000. */
        readonly maxEntries?: number;
        /** How long an answer is reused while the revocation feed is current. Default 10 s. */
        readonly ttlMs?: number;
        /** How long without a current feed (no verifierKey, or the feed is down). Default 1 s. */
        readonly ttlWithoutFeedMs?: number;
      };
  /** The revocation feed (with verifierKey): heartbeat asked of Sigil, and silence after which it counts as down. Defaults 1 s and 3 s. */
  readonly feed?: { readonly heartbeatMs?: number; readonly staleAfterMs?: number };
  /**
   * Verify derived JWTs offline (signature against the JWKS, revocation against the feed) instead of
   * calling VerifyKey: `true` builds an OfflineVerifier from these options and `verifierKey`, or pass
   * one. A JWT the offline verifier cannot vouch for (feed stale, keys unavailable) is verified online.
   */
  readonly offlineJwt?: boolean | OfflineVerifier;
  /** Deadline of each VerifyKey call. Default 2 s; past it the request is refused as unavailable. */
  readonly timeoutMs?: number;
  /** VerifyKey failures and feed failures, for logging (they never hold a credential). */
  readonly onError?: (err: ConnectError, where: "verify" | "feed") => void;
  /** Clock in ms (tests). */
  readonly now?: () => number;
}

/** What a middleware knows about the request besides its credential. */
export interface SigilAuthRequest {
  /** Scopes this route or method needs (besides SigilAuthOptions.requiredScopes). */
  readonly requiredScopes?: readonly string[];
  /** The client's address, passed to VerifyKey (keys with allowed networks need it). */
  readonly clientIp?: string;
}

export type SigilAuthResult = { readonly ok: true; readonly identity: SigilIdentity } | { readonly ok: false; readonly denial: SigilDenial };

export interface SigilAuthStats {
  /** Requests answered from the cache. */
  readonly cacheHits: number;
  /** VerifyKey calls made. */
  readonly verifyCalls: number;
  /** JWTs verified offline. */
  readonly offlineVerifications: number;
  readonly cacheEntries: number;
  /** The revocation feed confirmed this process up to date within `feed.staleAfterMs`. */
  readonly feedCurrent: boolean;
}

const JWT_SHAPE = /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * Verifies the credentials of incoming requests for the service middleware: online (VerifyKey,
 * with the client's IP) behind a small cache of valid answers, or offline for derived JWTs. One
 * SigilAuth per process, shared by every adapter, so they share one cache and one feed.
 *
 * What the cache never does:
 * - keep an answer for a key with a rate limit or usage credits (VerifyKey answered `rate_limit`
 *   or `credits`): every request of such a key reaches Sigil, so limits and credits count exactly;
 * - keep an invalid answer: a refused credential is asked again each time;
 * - answer for a key the feed reported revoked (checked on every hit), or for longer than the TTL
 *   of the moment (short while the feed is down).
 * Disabling a key, narrowing its scopes, or a rotation's grace ending are not in the feed: a cached
 * answer may outlive them by up to `cache.ttlMs`.
 */
export class SigilAuth {
  readonly header: string;
  readonly realm: string;
  readonly #client: SigilClient;
  readonly #closeClient: () => void;
  readonly #now: () => number;
  readonly #audience: string;
  readonly #requiredScopes: readonly string[];
  readonly #timeoutMs: number;
  readonly #cache: AnswerCache | undefined;
  readonly #ttlMs: number;
  readonly #ttlWithoutFeedMs: number;
  readonly #staleAfterMs: number;
  readonly #recentlyRevoked: RevocationSet;
  readonly #watcher: RevocationWatcher | undefined;
  readonly #offline: OfflineVerifier | undefined;
  readonly #ownsOffline: boolean;
  readonly #offlineStarted: Promise<void> | undefined;
  readonly #onError: SigilAuthOptions["onError"];
  #cacheHits = 0;
  #verifyCalls = 0;
  #offlineVerifications = 0;

  constructor(options: SigilAuthOptions) {
    const verifierKey = options.verifierKey;
    if (verifierKey !== undefined && !/^\S{1,8192}$/.test(verifierKey)) throw new TypeError("SigilAuth: verifierKey must be an API key (no spaces)");
    this.header = (options.header ?? "authorization").toLowerCase();
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(this.header)) throw new TypeError(`SigilAuth: header must be an HTTP header name, got ${JSON.stringify(options.header)}`);
    this.realm = options.realm ?? "sigil";
    if (!/^[\x20-\x7e]*$/.test(this.realm) || /["\\]/.test(this.realm)) throw new TypeError("SigilAuth: realm must be printable ASCII without quotes or backslashes");
    this.#now = options.now ?? Date.now;
    this.#audience = options.audience ?? "";
    this.#requiredScopes = [...(options.requiredScopes ?? [])];
    this.#timeoutMs = positive(options.timeoutMs ?? 2000, "timeoutMs");
    this.#onError = options.onError;
    const cache = options.cache === false ? undefined : (options.cache ?? {});
    this.#cache = cache && new AnswerCache(nonNegative(cache.maxEntries ?? 10_000, "cache.maxEntries"));
    this.#ttlMs = nonNegative(cache ? (cache.ttlMs ?? 10_000) : 0, "cache.ttlMs");
    this.#ttlWithoutFeedMs = Math.min(this.#ttlMs, nonNegative(cache ? (cache.ttlWithoutFeedMs ?? 1000) : 0, "cache.ttlWithoutFeedMs"));
    const heartbeatMs = Math.max(200, positive(options.feed?.heartbeatMs ?? 1000, "feed.heartbeatMs"));
    this.#staleAfterMs = positive(options.feed?.staleAfterMs ?? 3 * heartbeatMs, "feed.staleAfterMs");
    // Revocations are remembered (by local arrival time, immune to clock skew) as long as an
    // answer cached before them could still be served.
    this.#recentlyRevoked = new RevocationSet({ retainMs: this.#ttlMs + 1000, maxEntries: 100_000 });

    const { client, close } = openSigilClient(options, "SigilAuth");
    this.#client = client;
    this.#closeClient = close;
    if (verifierKey !== undefined) {
      this.#watcher = new RevocationWatcher({
        client,
        authorization: `Bearer ${verifierKey}`,
        replayMs: this.#ttlMs + 1000,
        heartbeatMs,
        reconnect: { initialMs: 100, maxMs: 5000 },
        now: this.#now,
        onRevocation: (keyId) => this.#revoked(keyId),
        onError: (err) => this.#onError?.(err, "feed"),
      });
      this.#watcher.start();
    }
    if (options.offlineJwt instanceof OfflineVerifier) {
      this.#offline = options.offlineJwt;
      this.#ownsOffline = false;
    } else if (options.offlineJwt === true) {
      if (verifierKey === undefined) throw new TypeError("SigilAuth: offlineJwt needs verifierKey (a key with sigil:verify, for the revocation feed)");
      const { baseUrl, protocol, tls, transport, audience } = options;
      this.#offline = new OfflineVerifier({ baseUrl, protocol, tls, transport, audience, credential: verifierKey, onFeedError: (err) => this.#onError?.(err, "feed") });
      this.#ownsOffline = true;
    } else {
      this.#ownsOffline = false;
    }
    if (this.#ownsOffline) {
      this.#offlineStarted = this.#offline!.start();
      this.#offlineStarted.catch(() => undefined); // ready() reports it; verify() falls back online meanwhile
    }
  }

  /**
   * Resolves once the revocation feed (and the offline verifier) are up; before that, answers are
   * cached only for `ttlWithoutFeedMs`. Rejects after `timeoutMs`, or at once if Sigil refuses the
   * verifierKey. Requests are served either way: awaiting this is for start-up checks and tests.
   */
  async ready(timeoutMs = 10_000): Promise<void> {
    await Promise.all([this.#watcher?.ready(timeoutMs), this.#offlineStarted]);
  }

  /**
   * Verifies one request's credential (undefined: the request carried none). Synchronous on a
   * cache hit, a promise otherwise: `await` it either way.
   */
  authenticate(credential: string | undefined, request: SigilAuthRequest = {}): SigilAuthResult | Promise<SigilAuthResult> {
    const scopes = request.requiredScopes === undefined || request.requiredScopes.length === 0 ? this.#requiredScopes : this.#requiredScopes.length === 0 ? request.requiredScopes : [...this.#requiredScopes, ...request.requiredScopes];
    if (credential === undefined || credential.length === 0) return deny(missingCredential(this.header, scopes));
    if (!isPlausibleCredential(credential)) return deny(denialFor(VerifyReason.MALFORMED, scopes));
    const clientIp = request.clientIp ?? "";
    if (this.#offline !== undefined && JWT_SHAPE.test(credential)) return this.#verifyOffline(credential, scopes, clientIp);
    if (this.#cache === undefined) return this.#verifyOnline(credential, scopes, clientIp, undefined);
    const key = cacheKey(credential, clientIp, scopes);
    const now = this.#now();
    const identity = this.#cache.get(key, now, this.#feedCurrent(now) ? this.#ttlMs : this.#ttlWithoutFeedMs);
    if (identity !== undefined) {
      if (!this.#recentlyRevoked.has(identity.keyId)) {
        this.#cacheHits++;
        return { ok: true, identity };
      }
      this.#cache.forgetKeys(new Set([identity.keyId]));
    }
    return this.#verifyOnline(credential, scopes, clientIp, key);
  }

  stats(): SigilAuthStats {
    return {
      cacheHits: this.#cacheHits,
      verifyCalls: this.#verifyCalls,
      offlineVerifications: this.#offlineVerifications,
      cacheEntries: this.#cache?.size ?? 0,
      feedCurrent: this.#feedCurrent(this.#now()),
    };
  }

  /** Stops the feed and closes Sigil connections (and an offline verifier it built itself). */
  async close(): Promise<void> {
    await this.#watcher?.close();
    if (this.#ownsOffline) await this.#offline!.close();
    this.#closeClient();
  }

  async #verifyOnline(credential: string, requiredScopes: readonly string[], clientIp: string, key: string | undefined): Promise<SigilAuthResult> {
    this.#verifyCalls++;
    let res: VerifyKeyResponse;
    try {
      res = await this.#client.verifyKey({ credential, requiredScopes: [...requiredScopes], audience: this.#audience, clientIp }, { timeoutMs: this.#timeoutMs });
    } catch (err) {
      const e = ConnectError.from(err);
      this.#onError?.(e, "verify");
      return deny(sigilUnavailable(Code[e.code] ?? String(e.code), requiredScopes));
    }
    const now = this.#now();
    if (!res.valid) return deny(denialFor(res.reason, requiredScopes, retryAfter(res, now)));
    // The feed already said revoked: an instance that has not heard yet must not override it.
    if (this.#recentlyRevoked.has(res.keyId)) return deny(denialFor(VerifyReason.REVOKED, requiredScopes));
    const identity = identityFromResponse(res);
    // Metered and rate-limited keys are asked every time, so their limits and credits count.
    if (key !== undefined && res.rateLimit === undefined && res.credits === undefined && !this.#recentlyRevoked.overflowed(now)) this.#cache!.set(key, identity, now);
    return { ok: true, identity };
  }

  async #verifyOffline(token: string, requiredScopes: readonly string[], clientIp: string): Promise<SigilAuthResult> {
    const result = await this.#offline!.verify(token, { requiredScopes });
    if (!result.valid) {
      // Cannot vouch offline (feed stale, keys unavailable): Sigil can.
      if (result.reason === VerifyReason.REVOCATIONS_STALE || result.reason === VerifyReason.KEYS_UNAVAILABLE) return this.#verifyOnline(token, requiredScopes, clientIp, undefined);
      return deny(denialFor(result.reason, requiredScopes));
    }
    this.#offlineVerifications++;
    const identity: SigilIdentity = Object.freeze({
      keyId: result.keyId,
      owner: result.subject,
      scopes: result.scopes,
      kind: CredentialKind.JWT,
      parentKeyId: result.keyId,
      tokenId: result.tokenId,
      expireTime: result.expireTime,
      metadata: Object.freeze({}),
      offline: true,
    });
    return { ok: true, identity };
  }

  #revoked(keyId: string): void {
    const now = this.#now();
    this.#recentlyRevoked.add(keyId, now, now);
    // More revocations than can be remembered: forget every answer rather than one revocation.
    if (this.#recentlyRevoked.overflowed(now)) this.#cache?.clear();
  }

  #feedCurrent(now: number): boolean {
    return this.#watcher !== undefined && now - this.#watcher.lastCurrentAt <= this.#staleAfterMs && !this.#recentlyRevoked.overflowed(now);
  }
}

/** A SigilAuth, started: its revocation feed (with verifierKey) runs until close(). */
export function createSigilAuth(options: SigilAuthOptions): SigilAuth {
  return new SigilAuth(options);
}

/** The cache key: a digest, so the cache holds no credential. */
function cacheKey(credential: string, clientIp: string, scopes: readonly string[]): string {
  return createHash("sha256").update(credential).update(`\n${clientIp}\n${scopes.join(" ")}`).digest("base64");
}

function retryAfter(res: VerifyKeyResponse, now: number): number | undefined {
  if (res.reason === VerifyReason.RATE_LIMITED && res.rateLimit?.retryTime) return secondsUntil(timestampMs(res.rateLimit.retryTime), now);
  if (res.reason === VerifyReason.USAGE_EXHAUSTED && res.credits?.nextRefillTime) return secondsUntil(timestampMs(res.credits.nextRefillTime), now);
  if (res.reason === VerifyReason.CLIENT_THROTTLED) return 1;
  return undefined;
}

function deny(denial: SigilDenial): SigilAuthResult {
  return { ok: false, denial };
}

const positive = (value: number, name: string): number => positiveOption(value, name, "SigilAuth");
const nonNegative = (value: number, name: string): number => nonNegativeOption(value, name, "SigilAuth");
