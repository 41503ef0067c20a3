import { hash, timingSafeEqual } from "node:crypto";
import type { ImportedKeyIndex } from "../cache/imported-key-index.js";
import type { KeyDirectory } from "../cache/key-directory.js";
import { parseApiKey } from "../keys/api-key-format.js";
import { isPlausibleImportedKey, sha256Of, type ImportedKeyHasher } from "../keys/imported-key-hasher.js";
import type { KeyHasher } from "../keys/key-hasher.js";
import { keyState, type KeyState } from "../keys/key-record.js";
import type { VerifyingKey } from "../keys/verifying-key.js";
import type { ClientIp, ClientNetworks } from "../usage/client-networks.js";
import type { CreditLedger, CreditsOutcome } from "../usage/credits.js";
import type { LastUseRecorder } from "../usage/last-use-recorder.js";
import type { RateLimiter, RateLimitOutcome } from "../usage/rate-limiter.js";
import type { TenantIssuers } from "../tenants/tenant-issuers.js";
import { issuerMatches, looksLikeJwt, verifyDerivedJwt, type DerivedJwtClaims } from "../tokens/derived-jwt.js";
import { checkVerifiedClaims, VerifiedJwtCache } from "../tokens/verified-jwt-cache.js";
import type { SigningKeys } from "../tokens/signing-keys.js";
import type { MacaroonRootKeys } from "../tokens/macaroon-root-keys.js";
import {
  evaluateCaveats,
  MACAROON_TOKEN_PREFIX,
  parseIdentifier,
  parseMacaroonToken,
  verifyMacaroonSignature,
  type Macaroon,
} from "../tokens/macaroon/index.js";
import { CredentialKind, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { hasAllScopes } from "./scopes.js";
import { countedKeyOf, type VerificationCounter, type VerificationObserver } from "./verification-outcomes.js";
import { throttleClientOf, throttleDigest, type VerifyFailureThrottle } from "./verify-failure-throttle.js";

/** The outcome of verifying one credential; failures are values, not exceptions. */
export interface Verification {
  readonly valid: boolean;
  readonly reason: VerifyReason;
  readonly kind: CredentialKind;
  /** The API key the credential is or derives from, once known. */
  readonly keyId?: string;
  /** That key's record, once its secret or token checked out. */
  readonly record?: VerifyingKey;
  /** That key's tenant, once its record was found and the credential checked out against it (metrics). */
  readonly tenantId?: string;
  /** Effective scopes of the credential. */
  readonly scopes?: readonly string[];
  /** When the credential stops verifying (ms), null for never. */
  readonly expireTimeMs?: number | null;
  readonly tokenId?: string;
  /** The key's rate limit after this verification, when the check ran. */
  readonly rateLimit?: RateLimitOutcome;
  /** The key's credits after this verification, when the check ran. */
  readonly credits?: CreditsOutcome;
  /**
   * NOT_FOUND because the secret did not match an existing key. Answered exactly like an unknown
   * key id (so ids cannot be probed); only usage analytics tell the two apart.
   */
  readonly secretMismatch?: boolean;
}

export interface VerifyOptions {
  readonly requiredScopes: readonly string[];
  readonly audience: string;
  readonly nowMs: number;
  /**
   * Apply the key's usage controls (client networks, rate limit, credits). Set by VerifyKey and
   * BatchVerifyKeys; admin authentication, DeriveToken and self-revocation do not use them up.
   */
  readonly usage?: boolean;
  /** The client address the caller observed (VerifyKey `client_ip`), parsed. */
  readonly clientIp?: ClientIp;
  /** Credits to use up (VerifyKey `cost`); 1 when unset. */
  readonly cost?: number;
  /**
   * The address of the caller (read only when needed). Set by the unauthenticated RPCs (VerifyKey,
   * BatchVerifyKeys, DeriveToken): their failed guesses of imported strings are throttled per client.
   */
  readonly peerAddress?: () => string | undefined;
  /**
   * Only keys of this tenant (VerifyKey `tenant_id`): a credential of another tenant's key is
   * answered exactly as one of a key that does not exist.
   */
  readonly tenantId?: string;
}

/** Usage controls the verifier applies when VerifyOptions.usage is set. */
export interface UsageControls {
  readonly rateLimiter: RateLimiter;
  readonly credits: CreditLedger;
}

/** How the verifier finds imported keys (strings not in Sigil's format). */
export interface ImportedKeyLookup {
  readonly index: ImportedKeyIndex;
  readonly hasher: ImportedKeyHasher;
  /** Called after a match under a retired server-secret version, to re-hash the row. */
  readonly onStaleHash?: (record: VerifyingKey, sha256: Buffer) => void;
}

export interface CredentialVerifierDeps {
  readonly directory: KeyDirectory;
  readonly hasher: KeyHasher;
  readonly signingKeys: SigningKeys;
  readonly macaroonRootKeys: MacaroonRootKeys;
  readonly keyPrefix: string;
  /** The issuer each tenant's derived JWTs carry. */
  readonly tenantIssuers: TenantIssuers;
  /** Called after a successful check against a retired server-secret version. */
  readonly onStaleHash?: (record: VerifyingKey, secret: string) => void;
  readonly usage?: UsageControls;
  /** Notes each successful use (coalesced last_use_time). */
  readonly lastUse?: LastUseRecorder;
  /** Without it, strings not in Sigil's format are MALFORMED. */
  readonly importedKeys?: ImportedKeyLookup;
  /** Throttles clients that fail to guess imported strings (see verify-failure-throttle.ts). */
  readonly failureThrottle?: VerifyFailureThrottle;
  /** Hears the outcome of every `verify` (usage analytics); admin auth and DeriveToken's `verifyApiKey` are not counted. */
  readonly outcomes?: VerificationCounter;
  /** Hears the same outcomes and the JWT cache's hits and misses (Prometheus metrics). */
  readonly observer?: VerificationObserver;
  /**
   * Each tenant's network boundary (tenants/tenant-network-boundaries.ts), checked with the key's
   * own allowed networks wherever those are: a client must be inside both.
   */
  readonly networkBoundaries?: { of(tenantId: string): ClientNetworks | null | Promise<ClientNetworks | null> };
}

function fail(reason: VerifyReason, kind: CredentialKind, keyId?: string): Verification {
  return { valid: false, reason, kind, keyId };
}

/** A failure of a credential that checked out against its key's record (expired, out of scope, ...). */
function failOf(record: VerifyingKey, reason: VerifyReason, kind: CredentialKind): Verification {
  return { valid: false, reason, kind, keyId: record.keyId, tenantId: record.tenantId };
}

const STATE_FAILURE: Record<Exclude<KeyState, "active">, VerifyReason> = {
  revoked: VerifyReason.REVOKED,
  expired: VerifyReason.EXPIRED,
  disabled: VerifyReason.DISABLED,
};

/** Verifies every credential kind Sigil mints. Malformed input is rejected before storage. */
export class CredentialVerifier {
  readonly #d: CredentialVerifierDeps;
  readonly #verifiedSecretDigests = new WeakMap<VerifyingKey, Buffer>();
  readonly #verifiedJwts = new VerifiedJwtCache(10_000);

  constructor(deps: CredentialVerifierDeps) {
    this.#d = deps;
  }

  /** Any credential kind: the path of VerifyKey and BatchVerifyKeys, whose outcomes are counted. */
  verify(credential: string, options: VerifyOptions): Verification | Promise<Verification> {
    const v = looksLikeJwt(credential)
      ? this.#verifyJwt(credential, options)
      : credential.startsWith(MACAROON_TOKEN_PREFIX)
        ? this.#verifyMacaroon(credential, options)
        : this.verifyApiKey(credential, options);
    if (this.#d.outcomes === undefined && this.#d.observer === undefined) return v;
    if (v instanceof Promise) {
      return v.then((r) => {
        this.#heard(r, options.nowMs);
        return r;
      });
    }
    this.#heard(v, options.nowMs);
    return v;
  }

  #heard(v: Verification, nowMs: number): void {
    const keyId = countedKeyOf(v);
    this.#d.outcomes?.count(keyId, v.reason, nowMs, keyId === "" ? undefined : v.tenantId);
    this.#d.observer?.verified(v);
  }

  /** API keys only (admin auth and DeriveToken accept nothing else). */
  verifyApiKey(credential: string, options: VerifyOptions): Verification | Promise<Verification> {
    const parsed = parseApiKey(credential, this.#d.keyPrefix);
    if (!parsed) {
      if (this.#d.importedKeys && this.#mayBeImported(credential)) return this.#verifyImported(credential, this.#d.importedKeys, options);
      return fail(VerifyReason.MALFORMED, CredentialKind.UNSPECIFIED);
    }
    const found = this.#keyOf(parsed.keyId, options);
    const check = (record: VerifyingKey | undefined) => this.#checkApiKey(record, parsed.keyId, parsed.secret, options);
    return found instanceof Promise ? found.then(check) : check(found);
  }

  /** The key's record from the directory, or undefined when it is another tenant's and the caller restricted itself. */
  #keyOf(keyId: string, options: VerifyOptions): VerifyingKey | undefined | Promise<VerifyingKey | undefined> {
    const found = this.#d.directory.get(keyId, options.nowMs);
    const tenantId = options.tenantId;
    if (tenantId === undefined) return found;
    const inTenant = (r: VerifyingKey | undefined) => (r !== undefined && r.tenantId !== tenantId ? undefined : r);
    return found instanceof Promise ? found.then(inTenant) : inTenant(found);
  }

  #checkApiKey(record: VerifyingKey | undefined, keyId: string, secret: string, options: VerifyOptions): Verification | Promise<Verification> {
    const kind = CredentialKind.API_KEY;
    // An unknown id and a wrong secret get the same answer, so ids cannot be probed.
    if (!record) return fail(VerifyReason.NOT_FOUND, kind, keyId);
    // Named by the row's id, not the slice of the credential: the usage counter keeps it until its flush.
    if (!this.#sigilSecretMatches(record, keyId, secret, options.nowMs)) return { ...fail(VerifyReason.NOT_FOUND, kind, record.keyId), secretMismatch: true };
    return this.#checkRecord(record, kind, record.scopes, record.expireTime, options);
  }

  /** The current secret, or the old one of a rotation until its grace period ends. */
  #sigilSecretMatches(record: VerifyingKey, keyId: string, secret: string, nowMs: number): boolean {
    if (!record.secretImported && this.#matchesCurrentSecret(record, keyId, secret)) {
      if (record.hashVersion !== this.#d.hasher.currentVersion) this.#d.onStaleHash?.(record, secret);
      return true;
    }
    const previous = record.previousSecret;
    return !!previous && !previous.imported && previous.expireTime > nowMs && this.#d.hasher.matches(keyId, secret, previous.hash, previous.hashVersion);
  }

  /** The same for an imported key string (by its SHA-256). */
  #importedSecretMatches(record: VerifyingKey, sha256: Buffer, imported: ImportedKeyLookup, nowMs: number): boolean {
    if (record.secretImported && imported.hasher.matches(sha256, record.secretHash, record.hashVersion)) {
      if (record.hashVersion !== imported.hasher.currentVersion) imported.onStaleHash?.(record, sha256);
      return true;
    }
    const previous = record.previousSecret;
    return !!previous && previous.imported && previous.expireTime > nowMs && imported.hasher.matches(sha256, previous.hash, previous.hashVersion);
  }

  /**
   * Checks an API key against a record the caller read itself, not the cache: the in-transaction
   * re-check of a mutation's actor. Same answers as `verifyApiKey`, but no usage controls and no
   * use is noted.
   */
  checkApiKeyAgainst(credential: string, record: VerifyingKey | undefined, nowMs: number): Verification {
    const kind = CredentialKind.API_KEY;
    if (!record) return fail(VerifyReason.NOT_FOUND, kind);
    const parsed = parseApiKey(credential, this.#d.keyPrefix);
    const imported = this.#d.importedKeys;
    const matched = parsed
      ? parsed.keyId === record.keyId && this.#sigilSecretMatches(record, parsed.keyId, parsed.secret, nowMs)
      : !!imported && this.#mayBeImported(credential) && this.#importedSecretMatches(record, sha256Of(credential), imported, nowMs);
    if (!matched) return fail(VerifyReason.NOT_FOUND, kind, record.keyId);
    const state = keyState(record, nowMs);
    if (state !== "active") return fail(STATE_FAILURE[state], kind, record.keyId);
    return { valid: true, reason: VerifyReason.VALID, kind, keyId: record.keyId, record, scopes: record.scopes, expireTimeMs: record.expireTime };
  }

  /**
   * The keyed-hash check, with a memo for the hot path: once a secret has matched a record's HMAC,
   * the SHA-256 of that secret is kept beside the (immutable) record, and later presentations are
   * compared with a one-shot hash in constant time instead of a new HMAC object per call. A changed
   * record (revoke, update, rotate) is a new object, so its memo starts empty.
   */
  #matchesCurrentSecret(record: VerifyingKey, keyId: string, secret: string): boolean {
    const digest = hash("sha256", secret, "buffer");
    const memo = this.#verifiedSecretDigests.get(record);
    if (memo) return timingSafeEqual(memo, digest);
    if (!this.#d.hasher.matches(keyId, secret, record.secretHash, record.hashVersion)) return false;
    this.#verifiedSecretDigests.set(record, digest);
    return true;
  }

  /**
   * Not a Sigil key, but possibly an imported one. A string with this server's key prefix is a
   * mistyped Sigil key and tokens are never imported, so those stay MALFORMED without a lookup.
   */
  #mayBeImported(credential: string): boolean {
    const prefix = this.#d.keyPrefix;
    if (credential.length > prefix.length && credential.startsWith(prefix) && credential.charCodeAt(prefix.length) === 95 /* _ */) return false;
    return isPlausibleImportedKey(credential) && !looksLikeJwt(credential) && !credential.startsWith(MACAROON_TOKEN_PREFIX);
  }

  async #verifyImported(credential: string, imported: ImportedKeyLookup, options: VerifyOptions): Promise<Verification> {
    const kind = CredentialKind.API_KEY;
    const sha256 = sha256Of(credential);
    const throttle = this.#d.failureThrottle;
    const client = throttle && options.peerAddress ? throttleClientOf(options.clientIp, options.peerAddress()) : undefined;
    if (!throttle || !client) return this.#findImported(sha256, imported, options);
    const digest = throttleDigest(sha256);
    const admission = throttle.begin(client, digest, options.nowMs);
    if (admission === "refused") return fail(VerifyReason.CLIENT_THROTTLED, kind);
    let outcome: "matched" | "unmatched" | "unchecked" = "unchecked";
    try {
      return await this.#findImported(sha256, imported, options, (matched) => (outcome = matched ? "matched" : "unmatched"));
    } finally {
      throttle.settle(client, digest, admission, outcome, options.nowMs);
    }
  }

  /** Finds and checks an imported key by the SHA-256 of its string; `onMatch` hears whether it matched. */
  async #findImported(sha256: Buffer, imported: ImportedKeyLookup, options: VerifyOptions, onMatch?: (matched: boolean) => void): Promise<Verification> {
    const kind = CredentialKind.API_KEY;
    const keyId = await imported.index.find(sha256, options.nowMs, options.tenantId);
    // Unknown strings get no key id: nothing about other keys is revealed.
    const record = keyId === undefined ? undefined : await this.#keyOf(keyId, options);
    const matched = record !== undefined && this.#importedSecretMatches(record, sha256, imported, options.nowMs);
    onMatch?.(matched);
    if (!matched) return fail(VerifyReason.NOT_FOUND, kind);
    return this.#checkRecord(record, kind, record.scopes, record.expireTime, options);
  }

  #checkRecord(
    record: VerifyingKey,
    kind: CredentialKind,
    scopes: readonly string[],
    expireTimeMs: number | null,
    options: VerifyOptions,
    tokenId?: string,
  ): Verification | Promise<Verification> {
    const state = keyState(record, options.nowMs);
    if (state !== "active") return failOf(record, STATE_FAILURE[state], kind);
    if (!hasAllScopes(scopes, options.requiredScopes)) return failOf(record, VerifyReason.INSUFFICIENT_SCOPE, kind);
    return this.#admit(record, kind, scopes, expireTimeMs, options, tokenId);
  }

  /**
   * The last checks of a credential that is otherwise valid: the tenant's network boundary and the
   * key's usage controls (when the caller asked for them), cheapest first; then the use is noted
   * for last_use_time. The boundary is cached (synchronous after the tenant's first verification).
   * Only a metered key costs a database write (its credits); everything else stays in memory.
   */
  #admit(
    record: VerifyingKey,
    kind: CredentialKind,
    scopes: readonly string[],
    expireTimeMs: number | null,
    options: VerifyOptions,
    tokenId: string | undefined,
  ): Verification | Promise<Verification> {
    const keyId = record.keyId;
    const usage = options.usage ? this.#d.usage : undefined;
    if (!usage) {
      this.#d.lastUse?.record(keyId, options.nowMs);
      return { valid: true, reason: VerifyReason.VALID, kind, keyId, record, tenantId: record.tenantId, scopes, expireTimeMs, tokenId };
    }
    const boundary = this.#d.networkBoundaries?.of(record.tenantId) ?? null;
    // A closure only while the tenant's boundary is first loaded; after that the call stays direct.
    if (boundary instanceof Promise) return boundary.then((b) => this.#admitWithin(b, usage, record, kind, scopes, expireTimeMs, options, tokenId));
    return this.#admitWithin(boundary, usage, record, kind, scopes, expireTimeMs, options, tokenId);
  }

  /** #admit's checks once the tenant's network boundary is known. */
  #admitWithin(
    boundary: ClientNetworks | null,
    usage: UsageControls,
    record: VerifyingKey,
    kind: CredentialKind,
    scopes: readonly string[],
    expireTimeMs: number | null,
    options: VerifyOptions,
    tokenId: string | undefined,
  ): Verification | Promise<Verification> {
    const keyId = record.keyId;
    if (boundary !== null && !boundary.allows(options.clientIp)) return failOf(record, VerifyReason.CLIENT_NETWORK_NOT_ALLOWED, kind);
    if (record.allowedNetworks !== null && !record.allowedNetworks.allows(options.clientIp)) return failOf(record, VerifyReason.CLIENT_NETWORK_NOT_ALLOWED, kind);
    let rateLimit: RateLimitOutcome | undefined;
    if (record.rateLimit !== null) {
      rateLimit = usage.rateLimiter.take(keyId, record.rateLimit, options.nowMs);
      if (!rateLimit.allowed) return { ...failOf(record, VerifyReason.RATE_LIMITED, kind), rateLimit };
    }
    if (record.credits !== null) {
      return usage.credits.consume(keyId, options.cost ?? 1, options.nowMs).then((credits): Verification => {
        if (!credits.allowed) return { ...failOf(record, VerifyReason.USAGE_EXHAUSTED, kind), rateLimit, credits };
        this.#d.lastUse?.record(keyId, options.nowMs);
        return { valid: true, reason: VerifyReason.VALID, kind, keyId, record, tenantId: record.tenantId, scopes, expireTimeMs, tokenId, rateLimit, credits };
      });
    }
    this.#d.lastUse?.record(keyId, options.nowMs);
    return { valid: true, reason: VerifyReason.VALID, kind, keyId, record, tenantId: record.tenantId, scopes, expireTimeMs, tokenId, rateLimit };
  }

  async #verifyJwt(token: string, options: VerifyOptions): Promise<Verification> {
    const kind = CredentialKind.JWT;
    let claims: DerivedJwtClaims;
    const cached = this.#verifiedJwts.get(token);
    this.#d.observer?.jwtCacheLookup(cached !== undefined);
    if (cached) {
      // Its signing key may have been revoked (or have left the JWKS) since it was cached.
      const signer = this.#d.signingKeys.lookupSync(cached.kid);
      const failure = signer === "revoked" ? "REVOKED" : signer === undefined ? "BAD_SIGNATURE" : checkVerifiedClaims(cached.claims, options.audience, options.nowMs);
      if (failure) {
        if (failure !== "AUDIENCE_MISMATCH" && failure !== "NOT_YET_VALID") this.#verifiedJwts.delete(token);
        return fail(VerifyReason[failure], kind);
      }
      claims = cached.claims;
    } else {
      const verdict = await verifyDerivedJwt(token, (kid) => this.#d.signingKeys.lookup(kid), {
        audience: options.audience,
        nowMs: options.nowMs,
      });
      if (!verdict.ok) return fail(VerifyReason[verdict.reason], kind);
      claims = verdict.claims;
      this.#verifiedJwts.set(token, { claims, kid: verdict.kid });
    }
    const record = await this.#keyOf(claims.key_id, options);
    if (!record) return fail(VerifyReason.NOT_FOUND, kind, claims.key_id);
    const issuer = this.#d.tenantIssuers.issuerOf(record.tenantId);
    if (!issuerMatches(claims, record.tenantId, issuer instanceof Promise ? await issuer : issuer)) return fail(VerifyReason.BAD_SIGNATURE, kind);
    // The token never grants more than its parent holds now.
    const scopes = claims.scope.split(" ").filter((s) => s.length > 0 && record.scopes.includes(s));
    return this.#checkRecord(record, kind, scopes, claims.exp * 1000, options, claims.jti);
  }

  async #verifyMacaroon(token: string, options: VerifyOptions): Promise<Verification> {
    const kind = CredentialKind.MACAROON;
    let macaroon: Macaroon;
    let keyId: string;
    let tokenId: string;
    try {
      macaroon = parseMacaroonToken(token);
      ({ keyId, tokenId } = parseIdentifier(macaroon.identifier));
    } catch {
      return fail(VerifyReason.MALFORMED, kind);
    }
    // The root key is HMAC(server secret, key id): the signature is checked before any storage
    // access, so a forged macaroon gets BAD_SIGNATURE whether or not its key id exists (nothing is
    // learnt about key ids) and never reaches the database.
    const signed = this.#d.macaroonRootKeys.forVerifying(keyId).some((rootKey) => verifyMacaroonSignature(macaroon, rootKey));
    if (!signed) return fail(VerifyReason.BAD_SIGNATURE, kind, keyId);
    const record = await this.#keyOf(keyId, options);
    if (!record) return fail(VerifyReason.NOT_FOUND, kind, keyId);
    const state = keyState(record, options.nowMs);
    if (state !== "active") return failOf(record, STATE_FAILURE[state], kind);
    const verdict = evaluateCaveats(macaroon.caveats, {
      now: new Date(options.nowMs),
      keyId,
      parentScopes: record.scopes,
      requiredScopes: options.requiredScopes,
      audience: options.audience,
    });
    if (!verdict.ok) return failOf(record, VerifyReason[verdict.reason], kind);
    const expireTimeMs = Math.min(verdict.expireTime?.getTime() ?? Infinity, record.expireTime ?? Infinity);
    return this.#admit(record, kind, verdict.scopes, Number.isFinite(expireTimeMs) ? expireTimeMs : null, options, tokenId);
  }
}
