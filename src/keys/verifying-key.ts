import type { KeyRecord, PreviousSecret } from "./key-record.js";

/** The fields of a key that verification reads: VerifyKey's answer, the gateways, admin and verifier auth, DeriveToken. */
type VerifyingField =
  | "keyId"
  | "owner"
  | "tenantId"
  | "scopes"
  | "metadata"
  | "secretHash"
  | "hashVersion"
  | "secretImported"
  | "expireTime"
  | "revokeTime"
  | "enabled"
  | "rateLimit"
  | "credits"
  | "allowedNetworks";

/** The old secret of a rotation, as far as checking a presented secret needs it. */
export type VerifyingPreviousSecret = Pick<PreviousSecret, "hash" | "hashVersion" | "imported" | "expireTime">;

/**
 * A key as the verification paths see it, and as the key cache holds it: a KeyRecord without what
 * only admin reads show (name, prefix, times, hints, revoke reason, last use). A cache miss reads
 * exactly these columns (store/verifying-key-repository.ts). Every KeyRecord is one, so a record
 * read inside a transaction can be checked as it is.
 */
export interface VerifyingKey extends Pick<KeyRecord, VerifyingField> {
  readonly previousSecret: VerifyingPreviousSecret | null;
}

/** The verifying part of a record this process just wrote, for the cache: it must not keep the rest alive. */
export function verifyingKeyOf(r: VerifyingKey): VerifyingKey {
  const previous = r.previousSecret;
  return {
    keyId: r.keyId,
    owner: r.owner,
    tenantId: r.tenantId,
    scopes: r.scopes,
    metadata: r.metadata,
    secretHash: r.secretHash,
    hashVersion: r.hashVersion,
    secretImported: r.secretImported,
    expireTime: r.expireTime,
    revokeTime: r.revokeTime,
    enabled: r.enabled,
    previousSecret: previous === null ? null : { hash: previous.hash, hashVersion: previous.hashVersion, imported: previous.imported, expireTime: previous.expireTime },
    rateLimit: r.rateLimit,
    credits: r.credits,
    allowedNetworks: r.allowedNetworks,
  };
}
