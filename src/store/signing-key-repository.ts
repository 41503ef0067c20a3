import type { Kysely, Transaction } from "kysely";
import type { Database } from "./database.js";
import type { NewSigningKeyRow, SigningKeyRow } from "./tables/signing-keys-table.js";

type Db = Kysely<Database> | Transaction<Database>;

/** The active key (migration 0005's unique index allows at most one). */
export async function findActiveSigningKey(db: Db): Promise<SigningKeyRow | undefined> {
  return db.selectFrom("signing_keys").selectAll().where("retire_time", "is", null).orderBy("create_time", "desc").executeTakeFirst();
}

/**
 * The active key and every key retired (or revoked) after `retiredSince`: those whose tokens may
 * still be unexpired, so they are published, or (revoked) must be rejected by name. Newest first.
 */
export async function listCurrentSigningKeys(db: Db, retiredSince: number): Promise<SigningKeyRow[]> {
  return db
    .selectFrom("signing_keys")
    .selectAll()
    .where((eb) => eb.or([eb("retire_time", "is", null), eb("retire_time", ">", retiredSince)]))
    .orderBy("create_time", "desc")
    .execute()
    .then((rows) => rows.map(numeric));
}

/** Every key, newest first, a page at a time (ListSigningKeys). */
export async function listSigningKeysPage(
  db: Db,
  options: { after: { createTime: number; kid: string } | undefined; limit: number },
): Promise<SigningKeyRow[]> {
  let query = db.selectFrom("signing_keys").selectAll();
  const after = options.after;
  if (after) {
    query = query.where((eb) =>
      eb.or([eb("create_time", "<", after.createTime), eb.and([eb("create_time", "=", after.createTime), eb("kid", "<", after.kid)])]),
    );
  }
  const rows = await query.orderBy("create_time", "desc").orderBy("kid", "desc").limit(options.limit).execute();
  return rows.map(numeric);
}

/** Keys created or revoked at or after `since`, oldest first: what a WatchRevocations replay reports. */
export async function listSigningKeysChangedSince(db: Db, since: number): Promise<SigningKeyRow[]> {
  const rows = await db
    .selectFrom("signing_keys")
    .selectAll()
    .where((eb) => eb.or([eb("create_time", ">=", since), eb("revoke_time", ">=", since)]))
    .orderBy("create_time", "asc")
    .execute();
  return rows.map(numeric);
}

/** Inserts a key. A second active key is a unique violation (isUniqueViolation). */
export async function insertSigningKey(db: Db, row: NewSigningKeyRow): Promise<void> {
  await db.insertInto("signing_keys").values(row).execute();
}

/**
 * Retires `kid` if, and only if, it is still the active key: the conditional write that lets one
 * of several racing processes rotate. SQLite runs one writer at a time; on PostgreSQL a concurrent
 * update waits for the row lock and then re-checks `retire_time is null`, so exactly one of them
 * changes the row. Returns whether this call did.
 */
export async function retireActiveSigningKey(tx: Transaction<Database>, kid: string, time: number, revoke: boolean): Promise<boolean> {
  const result = await tx
    .updateTable("signing_keys")
    .set({ retire_time: time, revoke_time: revoke ? time : null })
    .where("kid", "=", kid)
    .where("retire_time", "is", null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Revokes retired keys still published (retired after `retiredSince`, not revoked yet); returns their kids. */
export async function revokeRetiredSigningKeys(tx: Transaction<Database>, retiredSince: number, time: number): Promise<string[]> {
  const rows = await tx
    .selectFrom("signing_keys")
    .select("kid")
    .where("retire_time", "is not", null)
    .where("retire_time", ">", retiredSince)
    .where("revoke_time", "is", null)
    .execute();
  const kids = rows.map((r) => r.kid);
  if (kids.length > 0) await tx.updateTable("signing_keys").set({ revoke_time: time }).where("kid", "in", kids).where("revoke_time", "is", null).execute();
  return kids;
}

export async function findSigningKeys(db: Db, kids: readonly string[]): Promise<SigningKeyRow[]> {
  if (kids.length === 0) return [];
  const rows = await db.selectFrom("signing_keys").selectAll().where("kid", "in", [...kids]).execute();
  return rows.map(numeric);
}

/** bigint columns come back as strings from pg. */
function numeric(row: SigningKeyRow): SigningKeyRow {
  return {
    ...row,
    create_time: Number(row.create_time),
    retire_time: row.retire_time === null ? null : Number(row.retire_time),
    revoke_time: row.revoke_time === null ? null : Number(row.revoke_time),
  };
}
