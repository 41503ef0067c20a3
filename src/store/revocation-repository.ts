import type { Kysely, Transaction } from "kysely";
import type { Database } from "./database.js";
import { listSigningKeysChangedSince } from "./signing-key-repository.js";
import { SIGNING_KEY_CHANGE_ACTIONS, type SigningKeyChangeAction } from "./tables/change-feed-table.js";

type Db = Kysely<Database> | Transaction<Database>;

/** One revoked key, from the change feed (with its seq) or from the keys table (replay). */
export interface RevocationRow {
  readonly seq: number;
  readonly keyId: string;
  readonly time: number;
  readonly reason: string;
  /** The tenant of the key (a verify key bound to a tenant sees only its own). */
  readonly tenantId: string;
}

/** One change to a JWT signing key, from the change feed (with its seq) or from signing_keys (replay). */
export interface SigningKeyChangeRow {
  readonly seq: number;
  readonly kid: string;
  readonly action: SigningKeyChangeAction;
  readonly time: number;
}

/** What WatchRevocations streams: key revocations and signing-key changes, in feed order. */
export type WatchedChangeRow = RevocationRow | SigningKeyChangeRow;

const WATCHED_ACTIONS = ["revoke", ...SIGNING_KEY_CHANGE_ACTIONS] as const;

/** Revocations and signing-key changes in the change feed with `afterSeq < seq <= upToSeq`, oldest first, at most `limit`. */
export async function readWatchedChangesBetween(db: Db, afterSeq: number, upToSeq: number, limit: number): Promise<WatchedChangeRow[]> {
  const rows = await db
    .selectFrom("change_feed")
    .select(["seq", "key_id", "signing_key_id", "action", "time", "reason", "tenant_id"])
    .where("seq", ">", afterSeq)
    .where("seq", "<=", upToSeq)
    .where("action", "in", WATCHED_ACTIONS)
    .orderBy("seq", "asc")
    .limit(limit)
    .execute();
  return rows.map((r): WatchedChangeRow =>
    r.signing_key_id !== null
      ? { seq: Number(r.seq), kid: r.signing_key_id, action: r.action as SigningKeyChangeAction, time: Number(r.time) }
      : { seq: Number(r.seq), keyId: r.key_id!, time: Number(r.time), reason: r.reason ?? "", tenantId: r.tenant_id },
  );
}

/** Signing keys created or revoked at or after `sinceTime`, as changes, oldest first (a replay; the table is small). */
export async function readSigningKeyChangesSince(db: Db, sinceTime: number): Promise<SigningKeyChangeRow[]> {
  const changes: SigningKeyChangeRow[] = [];
  for (const row of await listSigningKeysChangedSince(db, sinceTime)) {
    if (row.create_time >= sinceTime) changes.push({ seq: 0, kid: row.kid, action: "signing_key_add", time: row.create_time });
    if (row.revoke_time !== null && row.revoke_time >= sinceTime) changes.push({ seq: 0, kid: row.kid, action: "signing_key_revoke", time: row.revoke_time });
  }
  return changes.sort((a, b) => a.time - b.time);
}

/** Where a page of `readKeysRevokedSince` ended; the next page starts after it. */
export interface RevokedKeyPosition {
  readonly time: number;
  readonly keyId: string;
}

/**
 * Keys revoked at or after `sinceTime`, by (revoke_time, key_id), a page at a time. The keys table
 * keeps revocations forever (the feed is pruned), so a replay from a time is always complete.
 * Served by the partial index keys_by_revoke_time.
 */
export async function readKeysRevokedSince(db: Db, sinceTime: number, after: RevokedKeyPosition | undefined, limit: number): Promise<RevocationRow[]> {
  let query = db
    .selectFrom("keys")
    .select(["key_id", "revoke_time", "revoke_reason", "tenant_id"])
    .where("revoke_time", "is not", null)
    .where("revoke_time", ">=", sinceTime);
  if (after) {
    query = query.where((eb) =>
      eb.or([eb("revoke_time", ">", after.time), eb.and([eb("revoke_time", "=", after.time), eb("key_id", ">", after.keyId)])]),
    );
  }
  const rows = await query.orderBy("revoke_time", "asc").orderBy("key_id", "asc").limit(limit).execute();
  return rows.map((r) => ({ seq: 0, keyId: r.key_id, time: Number(r.revoke_time), reason: r.revoke_reason ?? "", tenantId: r.tenant_id }));
}
