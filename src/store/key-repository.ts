import type { CompiledQuery, Kysely, Transaction } from "kysely";
import type { Database } from "./database.js";
import type { KeyRow, NewKeyRow } from "./tables/keys-table.js";

type Db = Kysely<Database> | Transaction<Database>;

export async function insertKey(db: Db, row: NewKeyRow): Promise<void> {
  await db.insertInto("keys").values(row).execute();
}

/** One multi-row INSERT (group commit of IssueKey). */
export async function insertKeys(db: Db, rows: readonly NewKeyRow[]): Promise<void> {
  if (rows.length > 0) await db.insertInto("keys").values([...rows]).execute();
}

/** findKey's query, compiled once per Kysely instance: building and compiling it cost more than running it. */
const compiledFindKey = new WeakMap<Db, CompiledQuery<KeyRow>>();

/** The hot path of a cache miss (VerifyKey of a key this process has not cached). */
export async function findKey(db: Db, keyId: string): Promise<KeyRow | undefined> {
  let compiled = compiledFindKey.get(db);
  if (!compiled) {
    compiled = db.selectFrom("keys").selectAll().where("key_id", "=", "").compile();
    compiledFindKey.set(db, compiled);
  }
  const result = await db.executeQuery<KeyRow>({ ...compiled, parameters: [keyId] });
  return result.rows[0];
}

/**
 * How `findKeyLocked` holds the row until the transaction ends. PostgreSQL: `share` (FOR SHARE)
 * lets other checks read it but makes a concurrent UPDATE of it (a revocation) wait, or makes
 * this read wait for one in progress and then see its result; `update` (FOR UPDATE) for a row the
 * transaction will change itself. `none` for SQLite, whose write transactions hold the database's
 * write lock from BEGIN (see sqlite-immediate-dialect.ts).
 */
export type RowLock = "share" | "update" | "none";

/** A key row read inside a transaction, locked as `lock` says. */
export async function findKeyLocked(tx: Transaction<Database>, keyId: string, lock: RowLock): Promise<KeyRow | undefined> {
  const query = tx.selectFrom("keys").selectAll().where("key_id", "=", keyId);
  if (lock === "share") return query.forShare().executeTakeFirst();
  if (lock === "update") return query.forUpdate().executeTakeFirst();
  return query.executeTakeFirst();
}

/** Marks a key revoked unless it already is; returns whether this call revoked it. */
export async function markKeyRevoked(db: Db, keyId: string, time: number, reason: string): Promise<boolean> {
  const result = await db
    .updateTable("keys")
    .set({ revoke_time: time, revoke_reason: reason, update_time: time })
    .where("key_id", "=", keyId)
    .where("revoke_time", "is", null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Replaces a row's hash with one under a newer server secret version (re-hash on use). */
export async function updateSecretHash(db: Db, keyId: string, oldVersion: number, secretHash: string, hashVersion: number): Promise<void> {
  await db
    .updateTable("keys")
    .set({ secret_hash: secretHash, hash_version: hashVersion })
    .where("key_id", "=", keyId)
    .where("hash_version", "=", oldVersion)
    .execute();
}

export type KeyStatusFilter = "any" | "active" | "revoked" | "expired" | "disabled";

export interface ListKeysQuery {
  /** Only keys of this tenant, when set. */
  readonly tenantId?: string;
  readonly owner: string | undefined;
  readonly status: KeyStatusFilter;
  readonly now: number;
  /** Position after which to continue (newest first): the last row of the previous page. */
  readonly after: { readonly createTime: number; readonly keyId: string } | undefined;
  readonly limit: number;
}

/** Keys newest first (create_time, then key_id, both descending), filtered, one page. */
export async function listKeys(db: Db, q: ListKeysQuery): Promise<KeyRow[]> {
  let query = db.selectFrom("keys").selectAll();
  if (q.tenantId !== undefined) query = query.where("tenant_id", "=", q.tenantId);
  if (q.owner !== undefined) query = query.where("owner", "=", q.owner);
  if (q.status === "revoked") query = query.where("revoke_time", "is not", null);
  if (q.status === "active") {
    query = query
      .where("revoke_time", "is", null)
      .where("enabled", "=", 1)
      .where((eb) => eb.or([eb("expire_time", "is", null), eb("expire_time", ">", q.now)]));
  }
  if (q.status === "disabled") {
    query = query
      .where("revoke_time", "is", null)
      .where("enabled", "=", 0)
      .where((eb) => eb.or([eb("expire_time", "is", null), eb("expire_time", ">", q.now)]));
  }
  if (q.status === "expired") query = query.where("revoke_time", "is", null).where("expire_time", "<=", q.now);
  if (q.after) {
    const { createTime, keyId } = q.after;
    query = query.where((eb) => eb.or([eb("create_time", "<", createTime), eb.and([eb("create_time", "=", createTime), eb("key_id", "<", keyId)])]));
  }
  return query.orderBy("create_time", "desc").orderBy("key_id", "desc").limit(q.limit).execute();
}

/** Whether any key has this owner (keys_by_owner index). */
export async function hasKeyOwnedBy(db: Db, owner: string): Promise<boolean> {
  const row = await db.selectFrom("keys").select("key_id").where("owner", "=", owner).limit(1).executeTakeFirst();
  return row !== undefined;
}
