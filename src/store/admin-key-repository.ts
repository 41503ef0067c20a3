import type { Kysely } from "kysely";
import type { Database } from "./database.js";

/** The oldest unrevoked key of `owner` (the bootstrap admin key's owner is reserved). */
export async function findUnrevokedKeyOwnedBy(db: Kysely<Database>, owner: string): Promise<{ keyId: string; createTime: number } | undefined> {
  const row = await db
    .selectFrom("keys")
    .select(["key_id", "create_time"])
    .where("owner", "=", owner)
    .where("revoke_time", "is", null)
    .orderBy("create_time")
    .limit(1)
    .executeTakeFirst();
  return row ? { keyId: row.key_id, createTime: Number(row.create_time) } : undefined;
}

/**
 * Whether a key other than `exceptKeyId` could act as an admin now: unrevoked, enabled, unexpired,
 * holding `scope`. Scopes are a JSON array in one column, so this scans the unrevoked keys; it
 * stops at the first match and runs rarely (at start-up and once a day, see BootstrapAdminReminder).
 */
export async function hasOtherActiveKeyWithScope(db: Kysely<Database>, scope: string, exceptKeyId: string, nowMs: number): Promise<boolean> {
  const candidates = await db
    .selectFrom("keys")
    .select(["key_id", "scopes"])
    .where("key_id", "!=", exceptKeyId)
    .where("revoke_time", "is", null)
    .where("enabled", "=", 1)
    .where((eb) => eb.or([eb("expire_time", "is", null), eb("expire_time", ">", nowMs)]))
    // A coarse text match first; the JSON is parsed below for the exact answer.
    .where("scopes", "like", `%${JSON.stringify(scope)}%`)
    .limit(1)
    .execute();
  return candidates.some((row) => (JSON.parse(row.scopes) as string[]).includes(scope));
}
