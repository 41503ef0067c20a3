import { Code } from "@connectrpc/connect";
import { VerifyReason } from "../gen/sigil/v1/key_service_pb.js";

/**
 * How a request was refused, protocol-neutral; each adapter answers it in its protocol's terms:
 *
 * | status            | gRPC               | Connect            | HTTP |
 * |-------------------|--------------------|--------------------|------|
 * | unauthenticated   | UNAUTHENTICATED    | unauthenticated    | 401 + `WWW-Authenticate: Bearer` |
 * | permission_denied | PERMISSION_DENIED  | permission_denied  | 403 |
 * | rate_limited      | RESOURCE_EXHAUSTED | resource_exhausted | 429 + `Retry-After` |
 * | unavailable       | UNAVAILABLE        | unavailable        | 503 |
 */
export type SigilDenialStatus = "unauthenticated" | "permission_denied" | "rate_limited" | "unavailable";

/** The RPC code of each denial: Connect's Code, which is gRPC's status code by number. */
export const DENIAL_CODE: Readonly<Record<SigilDenialStatus, Code>> = {
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  rate_limited: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
};

export interface SigilDenial {
  readonly status: SigilDenialStatus;
  /** Sigil's reason; undefined when no credential was sent or Sigil could not be asked. */
  readonly reason: VerifyReason | undefined;
  /** For the caller: what was wrong. Never holds the credential. */
  readonly message: string;
  /** Rate limited (or out of credits, until a refill): seconds until a retry may pass. */
  readonly retryAfterSeconds?: number;
  /** The scopes the request needed (for `insufficient_scope`). */
  readonly requiredScopes: readonly string[];
}

const UNAUTHENTICATED_REASONS = new Set([
  VerifyReason.NOT_FOUND,
  VerifyReason.MALFORMED,
  VerifyReason.EXPIRED,
  VerifyReason.REVOKED,
  VerifyReason.BAD_SIGNATURE,
  VerifyReason.NOT_YET_VALID,
  VerifyReason.AUDIENCE_MISMATCH,
  VerifyReason.UNKNOWN_CAVEAT,
  VerifyReason.DISABLED,
  VerifyReason.ALGORITHM_NOT_ALLOWED,
  VerifyReason.ISSUER_MISMATCH,
  VerifyReason.LIFETIME_TOO_LONG,
]);

/** `revoked`, `insufficient_scope`, …: the reason's name as a caller reads it. */
export function reasonName(reason: VerifyReason): string {
  return (VerifyReason[reason] ?? "UNSPECIFIED").toLowerCase();
}

export function missingCredential(header: string, requiredScopes: readonly string[]): SigilDenial {
  const how = header === "authorization" ? "authorization: Bearer <credential>" : `${header}: <credential>`;
  return { status: "unauthenticated", reason: undefined, message: `no credential: send ${how}`, requiredScopes };
}

/** The denial for an invalid answer (VerifyKey's or the OfflineVerifier's). */
export function denialFor(reason: VerifyReason, requiredScopes: readonly string[], retryAfterSeconds?: number): SigilDenial {
  const base = { reason, requiredScopes };
  if (UNAUTHENTICATED_REASONS.has(reason)) return { ...base, status: "unauthenticated", message: `credential not valid: ${reasonName(reason)}` };
  switch (reason) {
    case VerifyReason.INSUFFICIENT_SCOPE:
      return { ...base, status: "permission_denied", message: `credential lacks a required scope (needs ${requiredScopes.join(" ")})` };
    case VerifyReason.CLIENT_NETWORK_NOT_ALLOWED:
      return { ...base, status: "permission_denied", message: "credential not allowed from this network" };
    case VerifyReason.RATE_LIMITED:
    case VerifyReason.USAGE_EXHAUSTED:
    case VerifyReason.CLIENT_THROTTLED: {
      const what = reason === VerifyReason.USAGE_EXHAUSTED ? "usage credits used up" : reason === VerifyReason.RATE_LIMITED ? "rate limited" : "too many failed verifications from this client";
      const retry = retryAfterSeconds === undefined ? {} : { retryAfterSeconds };
      return { ...base, ...retry, status: "rate_limited", message: retryAfterSeconds === undefined ? what : `${what}: retry in ${retryAfterSeconds} s` };
    }
    default:
      // REVOCATIONS_STALE, KEYS_UNAVAILABLE and anything newer: Sigil cannot vouch now.
      return { ...base, status: "unavailable", message: `credential cannot be checked now: ${reasonName(reason)}` };
  }
}

/** Sigil did not answer (unreachable, timed out): fail closed, saying only the code. */
export function sigilUnavailable(code: string, requiredScopes: readonly string[]): SigilDenial {
  return { status: "unavailable", reason: undefined, message: `credential cannot be checked now (Sigil: ${code})`, requiredScopes };
}

/** Whole seconds from now until `timeMs`, at least 1. */
export function secondsUntil(timeMs: number, nowMs: number): number {
  return Math.max(1, Math.ceil((timeMs - nowMs) / 1000));
}

export interface HttpDenial {
  readonly statusCode: 401 | 403 | 429 | 503;
  readonly headers: Readonly<Record<string, string>>;
  /** JSON body: `{"error": "...", "reason": "...", "message": "..."}`. */
  readonly body: { readonly error: string; readonly reason?: string; readonly message: string };
}

/**
 * A denial as an HTTP answer (RFC 6750 for 401 and 403): no error code when the request carried
 * no credential (§3.1), `invalid_token` for a bad one, `insufficient_scope` with the scopes needed.
 */
export function httpDenial(denial: SigilDenial, realm: string): HttpDenial {
  const reason = denial.reason === undefined ? {} : { reason: reasonName(denial.reason) };
  const realmParam = `realm="${realm}"`;
  switch (denial.status) {
    case "unauthenticated": {
      const challenge = denial.reason === undefined ? `Bearer ${realmParam}` : `Bearer ${realmParam}, error="invalid_token"`;
      return { statusCode: 401, headers: { "www-authenticate": challenge }, body: { error: "unauthenticated", ...reason, message: denial.message } };
    }
    case "permission_denied": {
      const headers: Record<string, string> =
        denial.reason === VerifyReason.INSUFFICIENT_SCOPE ? { "www-authenticate": `Bearer ${realmParam}, error="insufficient_scope", scope="${denial.requiredScopes.join(" ")}"` } : {};
      return { statusCode: 403, headers, body: { error: "permission_denied", ...reason, message: denial.message } };
    }
    case "rate_limited": {
      const headers: Record<string, string> = denial.retryAfterSeconds === undefined ? {} : { "retry-after": String(denial.retryAfterSeconds) };
      return { statusCode: 429, headers, body: { error: "rate_limited", ...reason, message: denial.message } };
    }
    case "unavailable":
      return { statusCode: 503, headers: { "retry-after": "1" }, body: { error: "unavailable", ...reason, message: denial.message } };
  }
}
