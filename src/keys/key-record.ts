import type { KeyRow, NewKeyRow } from "../store/tables/keys-table.js";

/** An API key as the service works with it (parsed from its row, cached in memory). */
export interface KeyRecord {
  readonly keyId: string;
  readonly prefix: string;
  readonly name: string;
  readonly owner: string;
  readonly scopes: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly secretHash: Buffer;
  readonly hashVersion: number;
  readonly createTime: number;
  readonly updateTime: number;
  readonly expireTime: number | null;
  readonly revokeTime: number | null;
  readonly revokeReason: string | null;
}

export function recordFromRow(row: KeyRow): KeyRecord {
  return {
    keyId: row.key_id,
    prefix: row.prefix,
    name: row.name,
    owner: row.owner,
    scopes: JSON.parse(row.scopes) as string[],
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    secretHash: Buffer.from(row.secret_hash, "base64"),
    hashVersion: row.hash_version,
    createTime: Number(row.create_time),
    updateTime: Number(row.update_time),
    expireTime: row.expire_time === null ? null : Number(row.expire_time),
    revokeTime: row.revoke_time === null ? null : Number(row.revoke_time),
    revokeReason: row.revoke_reason,
  };
}

export function rowFromRecord(r: KeyRecord): NewKeyRow {
  return {
    key_id: r.keyId,
    prefix: r.prefix,
    name: r.name,
    owner: r.owner,
    scopes: JSON.stringify(r.scopes),
    metadata: JSON.stringify(r.metadata),
    secret_hash: r.secretHash.toString("base64"),
    hash_version: r.hashVersion,
    create_time: r.createTime,
    update_time: r.updateTime,
    expire_time: r.expireTime,
    revoke_time: r.revokeTime,
    revoke_reason: r.revokeReason,
  };
}

export type KeyState = "active" | "revoked" | "expired";

export function keyState(r: KeyRecord, now: number): KeyState {
  if (r.revokeTime !== null) return "revoked";
  if (r.expireTime !== null && r.expireTime <= now) return "expired";
  return "active";
}
