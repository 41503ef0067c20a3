import { randomBytes, sign } from "node:crypto";
import { errors, jwtVerify, decodeProtectedHeader } from "jose";
import { SIGNING_ALG, type ActiveSigningKey, type SigningKeyLookup } from "./signing-keys.js";

/** The claims Sigil puts in a derived JWT. */
export interface DerivedJwtClaims {
  readonly iss: string;
  readonly sub: string;
  readonly aud?: string;
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
  readonly jti: string;
  /** Space-separated scopes. */
  readonly scope: string;
  /** The API key the token was derived from. */
  readonly key_id: string;
  /** The tenant of that key (absent from tokens derived before tenants had issuers). */
  readonly tenant?: string;
}

export interface MintJwtInput {
  readonly issuer: string;
  readonly tenantId: string;
  readonly subject: string;
  readonly audience: string | undefined;
  readonly keyId: string;
  readonly scopes: readonly string[];
  readonly issuedAtMs: number;
  readonly expireTimeMs: number;
}

/**
 * Signs with node:crypto directly rather than jose's SignJWT: jose 6 signs through WebCrypto, whose
 * job, key conversion and promise hops cost about as much again as the Ed25519 signature itself
 * (DeriveToken's largest cost). A JWS compact serialization is only base64url(header).base64url(
 * claims).base64url(signature); jose still verifies every token (tests hold minted tokens to it).
 */
export async function mintDerivedJwt(signingKey: ActiveSigningKey, input: MintJwtInput): Promise<{ token: string; jti: string }> {
  const jti = randomBytes(16).toString("base64url");
  const iat = Math.floor(input.issuedAtMs / 1000);
  const claims = {
    scope: input.scopes.join(" "),
    key_id: input.keyId,
    tenant: input.tenantId,
    iss: input.issuer,
    sub: input.subject,
    ...(input.audience ? { aud: input.audience } : {}),
    iat,
    nbf: iat,
    exp: Math.floor(input.expireTimeMs / 1000),
    jti,
  };
  const header = base64urlJson({ alg: SIGNING_ALG, kid: signingKey.kid, typ: "JWT" });
  const signingInput = `${header}.${base64urlJson(claims)}`;
  // Ed25519 takes no digest name: the algorithm hashes the message itself.
  const signature = sign(null, Buffer.from(signingInput), signingKey.privateKey);
  return { token: `${signingInput}.${signature.toString("base64url")}`, jti };
}

const base64urlJson = (value: object): string => Buffer.from(JSON.stringify(value)).toString("base64url");

/** REVOKED: the token's signing key was revoked (an emergency rotation). */
export type JwtFailure = "MALFORMED" | "BAD_SIGNATURE" | "EXPIRED" | "NOT_YET_VALID" | "AUDIENCE_MISMATCH" | "REVOKED";
export type JwtVerdict =
  | { readonly ok: true; readonly claims: DerivedJwtClaims; readonly kid: string }
  | { readonly ok: false; readonly reason: JwtFailure };

const COMPACT_JWT = /^eyJ[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/;

/** Cheap shape test, so the verifier can tell a JWT from an API key before any crypto. */
export function looksLikeJwt(credential: string): boolean {
  return COMPACT_JWT.test(credential);
}

/**
 * Verifies signature (EdDSA only), time claims and audience. A token that carries an audience only
 * verifies for a caller that names that audience. The issuer is the tenant's, known once the
 * parent key is: the caller checks it (see `issuerRefusal`).
 */
export async function verifyDerivedJwt(
  token: string,
  resolveKey: (kid: string) => SigningKeyLookup | Promise<SigningKeyLookup>,
  options: { audience: string; nowMs: number; clockToleranceSec?: number },
): Promise<JwtVerdict> {
  let kid: string | undefined;
  try {
    kid = decodeProtectedHeader(token).kid;
  } catch {
    return { ok: false, reason: "MALFORMED" };
  }
  if (!kid) return { ok: false, reason: "MALFORMED" };
  const key = await resolveKey(kid);
  if (key === "revoked") return { ok: false, reason: "REVOKED" };
  if (!key) return { ok: false, reason: "BAD_SIGNATURE" };
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: [SIGNING_ALG],
      currentDate: new Date(options.nowMs),
      clockTolerance: options.clockToleranceSec ?? 0,
      requiredClaims: ["iss", "sub", "iat", "nbf", "exp", "jti", "scope", "key_id"],
    });
    if (typeof payload.scope !== "string" || typeof payload.key_id !== "string") return { ok: false, reason: "MALFORMED" };
    if (typeof payload.iss !== "string" || (payload.tenant !== undefined && typeof payload.tenant !== "string")) return { ok: false, reason: "MALFORMED" };
    const aud = payload.aud;
    if (aud !== undefined) {
      const audiences = Array.isArray(aud) ? aud : [aud];
      if (!options.audience || !audiences.includes(options.audience)) return { ok: false, reason: "AUDIENCE_MISMATCH" };
    }
    return { ok: true, claims: payload as unknown as DerivedJwtClaims, kid };
  } catch (err) {
    return { ok: false, reason: classifyJoseError(err) };
  }
}

function classifyJoseError(err: unknown): JwtFailure {
  if (err instanceof errors.JWTExpired) return "EXPIRED";
  if (err instanceof errors.JWSSignatureVerificationFailed) return "BAD_SIGNATURE";
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "nbf" || err.claim === "iat") return "NOT_YET_VALID";
    if (err.claim === "aud") return "AUDIENCE_MISMATCH";
    if (err.claim === "iss") return "BAD_SIGNATURE";
    return "MALFORMED";
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return "BAD_SIGNATURE";
  return "MALFORMED";
}

/**
 * Whether a verified token's `iss` and `tenant` claims are those of its parent key's tenant now.
 * A mismatch (a token of a tenant whose issuer has changed since, or claims that do not belong to
 * the key) is answered as a bad issuer always was: BAD_SIGNATURE. A token without a `tenant` claim
 * (derived before tenants had issuers) is judged by its `iss` alone.
 */
export function issuerMatches(claims: DerivedJwtClaims, tenantId: string, expectedIssuer: string): boolean {
  return claims.iss === expectedIssuer && (claims.tenant === undefined || claims.tenant === tenantId);
}
