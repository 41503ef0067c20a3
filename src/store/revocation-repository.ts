import type { Kysely, Transaction } from "kysely";
import type { Database } from "./database.js";

type Db = Kysely<Database> | Transaction<Database>;

/** One revoked key, from the change feed (with its seq) or from the keys table (replay). */
export interface RevocationRow {
  readonly seq: number;
  readonly keyId: string;
  readonly time: number;
  readonly reason: string;
}

/** Revocations in the change feed with `afterSeq < seq <= upToSeq`, oldest first, at most `limit`. */
export async function readRevocationsBetween(db: Db, afterSeq: number, upToSeq: number, limit: number): Promise<RevocationRow[]> {
  const rows = await db
    .selectFrom("change_feed")
    .select(["seq", "key_id", "time", "reason"])
    .where("seq", ">", afterSeq)
    .where("seq", "<=", upToSeq)
    .where("action", "=", "revoke")
    .orderBy("seq", "asc")
    .limit(limit)
    .execute();
  return rows.map((r) => ({ seq: Number(r.seq), keyId: r.key_id, time: Number(r.time), reason: r.reason ?? "" }));
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
    .select(["key_id", "revoke_time", "revoke_reason"])
    .where("revoke_time", "is not", null)
    .where("revoke_time", ">=", sinceTime);
  if (after) {
    query = query.where((eb) =>
      eb.or([eb("revoke_time", ">", after.time), eb.and([eb("revoke_time", "=", after.time), eb("key_id", ">", after.keyId)])]),
    );
  }
  const rows = await query.orderBy("revoke_time", "asc").orderBy("key_id", "asc").limit(limit).execute();
  return rows.map((r) => ({ seq: 0, keyId: r.key_id, time: Number(r.revoke_time), reason: r.revoke_reason ?? "" }));
}
