import { Code } from "@connectrpc/connect";
import type { Verification } from "../service/credential-verifier.js";
import { CredentialKind, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { addRateLimitFields, retryAfterSeconds, type HeaderList } from "./rate-limit-headers.js";

/**
 * A gateway's answer, the same for /v1/authorize and Envoy's Check: the HTTP status the client
 * gets, the identity headers the protected service gets (on success), and the headers and body the
 * client gets. No part of it repeats the credential.
 */
export interface AuthorizationAnswer {
  readonly status: 200 | 400 | 401 | 403 | 429;
  /** The gRPC code of that status, 0 for OK (log lines; Envoy's CheckResponse.status). */
  readonly code: number;
  /** "valid", "missing_credential", "invalid_request", or the VerifyReason in lower case ("revoked"). */
  readonly reason: string;
  readonly keyId: string | undefined;
  /** For the protected service: X-Sigil-Key-Id, -Owner, -Scopes, -Credential-Kind (-Token-Id, -Parent-Key-Id). Empty on a denial. */
  readonly identity: HeaderList;
  /** For the client: WWW-Authenticate, Retry-After, RateLimit, RateLimit-Policy, X-Sigil-Reason. */
  readonly response: HeaderList;
  /** JSON for a denial ("" on success): `{"error": ..., "reason": ..., "message": ...}`. */
  readonly body: string;
}

/** The names of the identity headers, every one of which a gateway sets or removes. */
export const IDENTITY_HEADERS = ["x-sigil-key-id", "x-sigil-owner", "x-sigil-scopes", "x-sigil-credential-kind", "x-sigil-token-id", "x-sigil-parent-key-id", "x-sigil-tenant-id"] as const;

const REALM = 'Bearer realm="sigil"';

const KIND_NAMES: Record<CredentialKind, string> = {
  [CredentialKind.UNSPECIFIED]: "unspecified",
  [CredentialKind.API_KEY]: "api_key",
  [CredentialKind.JWT]: "jwt",
  [CredentialKind.MACAROON]: "macaroon",
};

/** How each failure is answered: status, RFC 6750 error code, and a description without quotes. */
interface Denial {
  readonly status: 401 | 403 | 429;
  readonly error: "invalid_token" | "insufficient_scope" | undefined;
  readonly description: string;
}

const INVALID = (description: string): Denial => ({ status: 401, error: "invalid_token", description });
const DENIALS: Partial<Record<VerifyReason, Denial>> = {
  [VerifyReason.NOT_FOUND]: INVALID("the credential is not a known key"),
  [VerifyReason.MALFORMED]: INVALID("the credential is malformed"),
  [VerifyReason.EXPIRED]: INVALID("the credential has expired"),
  [VerifyReason.REVOKED]: INVALID("the credential has been revoked"),
  [VerifyReason.BAD_SIGNATURE]: INVALID("the token signature does not verify"),
  [VerifyReason.NOT_YET_VALID]: INVALID("the token is not valid yet"),
  [VerifyReason.AUDIENCE_MISMATCH]: INVALID("the token is for another audience"),
  [VerifyReason.UNKNOWN_CAVEAT]: INVALID("the token has a caveat Sigil does not know"),
  [VerifyReason.DISABLED]: INVALID("the key is disabled"),
  [VerifyReason.ALGORITHM_NOT_ALLOWED]: INVALID("the token is signed with an algorithm Sigil does not accept"),
  [VerifyReason.ISSUER_MISMATCH]: INVALID("the token is from another issuer"),
  [VerifyReason.LIFETIME_TOO_LONG]: INVALID("the token lives longer than the longest token lifetime"),
  // The SDK's offline verifier's own reasons; the server never gives them, but an answer is ready.
  [VerifyReason.REVOCATIONS_STALE]: INVALID("revocations could not be checked"),
  [VerifyReason.KEYS_UNAVAILABLE]: INVALID("the signing keys could not be loaded"),
  [VerifyReason.INSUFFICIENT_SCOPE]: { status: 403, error: "insufficient_scope", description: "the credential lacks a required scope" },
  [VerifyReason.CLIENT_NETWORK_NOT_ALLOWED]: { status: 403, error: "insufficient_scope", description: "the key may not be used from this client address" },
  [VerifyReason.RATE_LIMITED]: { status: 429, error: undefined, description: "the key's rate limit is used up" },
  [VerifyReason.USAGE_EXHAUSTED]: { status: 429, error: undefined, description: "the key's usage credits are used up" },
  [VerifyReason.CLIENT_THROTTLED]: { status: 429, error: undefined, description: "too many failed key guesses from this client" },
};
const UNEXPECTED = INVALID("the credential is not valid");

const STATUS_CODES = { 400: Code.InvalidArgument, 401: Code.Unauthenticated, 403: Code.PermissionDenied, 429: Code.ResourceExhausted } as const;

/** Lower-case reason names, as usage analytics shows them. */
const REASON_NAMES = new Map(Object.entries(VerifyReason).filter(([, v]) => typeof v === "number").map(([name, v]) => [v as VerifyReason, name.toLowerCase()]));

/** The answer to a verification; `requiredScopes` are named in an insufficient_scope challenge. */
export function answerVerification(v: Verification, requiredScopes: readonly string[], nowMs: number, throttleRetryAfterSeconds: number): AuthorizationAnswer {
  const response: HeaderList = [];
  if (v.valid && v.record) {
    addRateLimitFields(response, v, nowMs);
    return { status: 200, code: 0, reason: "valid", keyId: v.keyId, identity: identityOf(v), response, body: "" };
  }
  const denial = DENIALS[v.reason] ?? UNEXPECTED;
  const reason = REASON_NAMES.get(v.reason) ?? "invalid";
  if (denial.error !== undefined) {
    const scope = denial.error === "insufficient_scope" && v.reason === VerifyReason.INSUFFICIENT_SCOPE && requiredScopes.length > 0 ? `, scope="${requiredScopes.join(" ")}"` : "";
    response.push(["www-authenticate", `${REALM}, error="${denial.error}", error_description="${denial.description}"${scope}`]);
  }
  if (denial.status === 429) {
    const retry = v.reason === VerifyReason.CLIENT_THROTTLED ? throttleRetryAfterSeconds : retryAfterSeconds(v, nowMs);
    if (retry !== undefined) response.push(["retry-after", String(retry)]);
  }
  addRateLimitFields(response, v, nowMs);
  response.push(["x-sigil-reason", reason]);
  const body = JSON.stringify({ error: denial.error ?? "too_many_requests", reason, message: denial.description });
  return { status: denial.status, code: STATUS_CODES[denial.status], reason, keyId: v.keyId, identity: [], response, body };
}

/** No credential at all: a bare challenge (RFC 6750 §3.1: no error code when none was sent). */
const missingCredential: AuthorizationAnswer = {
  status: 401,
  code: Code.Unauthenticated,
  reason: "missing_credential",
  keyId: undefined,
  identity: [],
  response: [
    ["www-authenticate", REALM],
    ["x-sigil-reason", "missing_credential"],
  ],
  body: JSON.stringify({ error: "missing_credential", reason: "missing_credential", message: "send the credential as Authorization: Bearer <credential>" }),
};
export const MISSING_CREDENTIAL: AuthorizationAnswer = Object.freeze(missingCredential);

/** Bad input from the gateway or the client: 400, with the validation message (which never quotes input). */
export function answerBadRequest(message: string): AuthorizationAnswer {
  return {
    status: 400,
    code: Code.InvalidArgument,
    reason: "invalid_request",
    keyId: undefined,
    identity: [],
    response: [
      ["www-authenticate", `${REALM}, error="invalid_request"`],
      ["x-sigil-reason", "invalid_request"],
      ["x-sigil-error", headerSafe(message)],
    ],
    body: JSON.stringify({ error: "invalid_request", reason: "invalid_request", message }),
  };
}

/** Owners are printable ASCII by validation; anything else never reaches a header. */
const PRINTABLE = /^[\x20-\x7e]*$/;

function identityOf(v: Verification): HeaderList {
  const record = v.record!;
  const headers: HeaderList = [
    ["x-sigil-key-id", record.keyId],
    ["x-sigil-owner", PRINTABLE.test(record.owner) ? record.owner : ""],
    ["x-sigil-scopes", (v.scopes ?? []).join(" ")],
    ["x-sigil-credential-kind", KIND_NAMES[v.kind]],
    // Tenant ids are [a-z0-9-] by validation.
    ["x-sigil-tenant-id", record.tenantId],
  ];
  if (v.kind === CredentialKind.JWT || v.kind === CredentialKind.MACAROON) {
    headers.push(["x-sigil-token-id", v.tokenId ?? ""], ["x-sigil-parent-key-id", record.keyId]);
  }
  return headers;
}

function headerSafe(text: string): string {
  return PRINTABLE.test(text) ? text : text.replace(/[^\x20-\x7e]/g, "?");
}
