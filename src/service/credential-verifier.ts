import type { KeyDirectory } from "../cache/key-directory.js";
import { parseApiKey } from "../keys/api-key-format.js";
import type { KeyHasher } from "../keys/key-hasher.js";
import { keyState, type KeyRecord } from "../keys/key-record.js";
import { looksLikeJwt, verifyDerivedJwt } from "../tokens/derived-jwt.js";
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
import { CredentialKind, VerifyReason } from "../../gen/sigil/v1/key_service_pb.js";
import { hasAllScopes } from "./scopes.js";

/** The outcome of verifying one credential; failures are values, not exceptions. */
export interface Verification {
  readonly valid: boolean;
  readonly reason: VerifyReason;
  readonly kind: CredentialKind;
  /** The API key the credential is or derives from, once known. */
  readonly keyId?: string;
  /** That key's record, once its secret or token checked out. */
  readonly record?: KeyRecord;
  /** Effective scopes of the credential. */
  readonly scopes?: readonly string[];
  /** When the credential stops verifying (ms), null for never. */
  readonly expireTimeMs?: number | null;
  readonly tokenId?: string;
}

export interface VerifyOptions {
  readonly requiredScopes: readonly string[];
  readonly audience: string;
  readonly nowMs: number;
}

export interface CredentialVerifierDeps {
  readonly directory: KeyDirectory;
  readonly hasher: KeyHasher;
  readonly signingKeys: SigningKeys;
  readonly macaroonRootKeys: MacaroonRootKeys;
  readonly keyPrefix: string;
  readonly issuer: string;
  /** Called after a successful check against a retired server-secret version. */
  readonly onStaleHash?: (record: KeyRecord, secret: string) => void;
}

function fail(reason: VerifyReason, kind: CredentialKind, keyId?: string): Verification {
  return { valid: false, reason, kind, keyId };
}

/** Verifies every credential kind Sigil mints. Malformed input is rejected before storage. */
export class CredentialVerifier {
  readonly #d: CredentialVerifierDeps;

  constructor(deps: CredentialVerifierDeps) {
    this.#d = deps;
  }

  verify(credential: string, options: VerifyOptions): Verification | Promise<Verification> {
    if (looksLikeJwt(credential)) return this.#verifyJwt(credential, options);
    if (credential.startsWith(MACAROON_TOKEN_PREFIX)) return this.#verifyMacaroon(credential, options);
    return this.verifyApiKey(credential, options);
  }

  /** API keys only (admin auth and DeriveToken accept nothing else). */
  verifyApiKey(credential: string, options: VerifyOptions): Verification | Promise<Verification> {
    const parsed = parseApiKey(credential, this.#d.keyPrefix);
    if (!parsed) return fail(VerifyReason.MALFORMED, CredentialKind.UNSPECIFIED);
    const found = this.#d.directory.get(parsed.keyId, options.nowMs);
    const check = (record: KeyRecord | undefined): Verification => this.#checkApiKey(record, parsed.keyId, parsed.secret, options);
    return found instanceof Promise ? found.then(check) : check(found);
  }

  #checkApiKey(record: KeyRecord | undefined, keyId: string, secret: string, options: VerifyOptions): Verification {
    const kind = CredentialKind.API_KEY;
    // An unknown id and a wrong secret get the same answer, so ids cannot be probed.
    if (!record || !this.#d.hasher.matches(keyId, secret, record.secretHash, record.hashVersion)) return fail(VerifyReason.NOT_FOUND, kind, keyId);
    if (record.hashVersion !== this.#d.hasher.currentVersion) this.#d.onStaleHash?.(record, secret);
    return this.#checkRecord(record, kind, record.scopes, record.expireTime, options);
  }

  #checkRecord(record: KeyRecord, kind: CredentialKind, scopes: readonly string[], expireTimeMs: number | null, options: VerifyOptions, tokenId?: string): Verification {
    const state = keyState(record, options.nowMs);
    if (state === "revoked") return fail(VerifyReason.REVOKED, kind, record.keyId);
    if (state === "expired") return fail(VerifyReason.EXPIRED, kind, record.keyId);
    if (!hasAllScopes(scopes, options.requiredScopes)) return fail(VerifyReason.INSUFFICIENT_SCOPE, kind, record.keyId);
    return { valid: true, reason: VerifyReason.VALID, kind, keyId: record.keyId, record, scopes, expireTimeMs, tokenId };
  }

  async #verifyJwt(token: string, options: VerifyOptions): Promise<Verification> {
    const kind = CredentialKind.JWT;
    const verdict = await verifyDerivedJwt(token, (kid) => this.#d.signingKeys.publicKey(kid, options.nowMs), {
      issuer: this.#d.issuer,
      audience: options.audience,
      nowMs: options.nowMs,
    });
    if (!verdict.ok) return fail(VerifyReason[verdict.reason], kind);
    const { claims } = verdict;
    const record = await this.#d.directory.get(claims.key_id, options.nowMs);
    if (!record) return fail(VerifyReason.NOT_FOUND, kind, claims.key_id);
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
    const record = await this.#d.directory.get(keyId, options.nowMs);
    if (!record) return fail(VerifyReason.NOT_FOUND, kind, keyId);
    const signed = this.#d.macaroonRootKeys.forVerifying(keyId).some((rootKey) => verifyMacaroonSignature(macaroon, rootKey));
    if (!signed) return fail(VerifyReason.BAD_SIGNATURE, kind, keyId);
    const state = keyState(record, options.nowMs);
    if (state === "revoked") return fail(VerifyReason.REVOKED, kind, keyId);
    if (state === "expired") return fail(VerifyReason.EXPIRED, kind, keyId);
    const verdict = evaluateCaveats(macaroon.caveats, {
      now: new Date(options.nowMs),
      keyId,
      parentScopes: record.scopes,
      requiredScopes: options.requiredScopes,
      audience: options.audience,
    });
    if (!verdict.ok) return fail(VerifyReason[verdict.reason], kind, keyId);
    const expireTimeMs = Math.min(verdict.expireTime?.getTime() ?? Infinity, record.expireTime ?? Infinity);
    return {
      valid: true,
      reason: VerifyReason.VALID,
      kind,
      keyId,
      record,
      scopes: verdict.scopes,
      expireTimeMs: Number.isFinite(expireTimeMs) ? expireTimeMs : null,
      tokenId,
    };
  }
}
