import { VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import type { Verification } from "./credential-verifier.js";

/** Hears verification outcomes per key: usage analytics (src/usage/usage-counter.ts). */
export interface VerificationCounter {
  /**
   * `keyId` is "" for an outcome that names no existing key. `tenantId` is the key's tenant when the
   * verification read its record (so the flush need not read it again), else undefined.
   */
  count(keyId: string, reason: VerifyReason, nowMs: number, tenantId?: string): void;
}

/** Hears every `verify` (VerifyKey, BatchVerifyKeys) and JWT-cache lookup: operational metrics (src/observability). */
export interface VerificationObserver {
  verified(v: Verification): void;
  jwtCacheLookup(hit: boolean): void;
}

/**
 * The key an outcome is counted under: the key the answer names, once its record was found. A
 * NOT_FOUND names the key id presented (counted only when that key exists and the secret was
 * wrong), and a macaroon's BAD_SIGNATURE the key id of an identifier nobody vouched for; every
 * other answer that names a key was given after reading its record. So ids made up by a caller
 * never become rows of their own.
 */
export function countedKeyOf(v: Verification): string {
  if (v.keyId === undefined || v.reason === VerifyReason.BAD_SIGNATURE) return "";
  if (v.reason === VerifyReason.NOT_FOUND && !v.secretMismatch) return "";
  return v.keyId;
}
