import type { Kysely, Transaction } from "kysely";
import type { Database } from "./database.js";
import type { NewTenantRow, TenantRow } from "./tables/tenants-table.js";

type Db = Kysely<Database> | Transaction<Database>;

/** A tenant that exists and is not deleted. */
export async function findLiveTenant(db: Db, tenantId: string): Promise<TenantRow | undefined> {
  return db.selectFrom("tenants").selectAll().where("tenant_id", "=", tenantId).where("delete_time", "is", null).executeTakeFirst();
}

/** Any row of this id, deleted ones included (ids are never reused). */
export async function findTenantRow(db: Db, tenantId: string): Promise<TenantRow | undefined> {
  return db.selectFrom("tenants").selectAll().where("tenant_id", "=", tenantId).executeTakeFirst();
}

export async function insertTenant(db: Db, row: NewTenantRow): Promise<void> {
  await db.insertInto("tenants").values(row).execute();
}

/** Live tenants by id, after `afterId`, one page. */
export async function listLiveTenants(db: Db, afterId: string | undefined, limit: number): Promise<TenantRow[]> {
  let query = db.selectFrom("tenants").selectAll().where("delete_time", "is", null);
  if (afterId !== undefined) query = query.where("tenant_id", ">", afterId);
  return query.orderBy("tenant_id", "asc").limit(limit).execute();
}

/** Changes a live tenant; false when there is none. */
export async function updateLiveTenant(db: Db, tenantId: string, set: { display_name?: string; policy?: string; jwt_issuer?: string | null; jwt_audience?: string; update_time: number }): Promise<boolean> {
  const r = await db.updateTable("tenants").set(set).where("tenant_id", "=", tenantId).where("delete_time", "is", null).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function markTenantDeleted(db: Db, tenantId: string, time: number): Promise<boolean> {
  const r = await db.updateTable("tenants").set({ delete_time: time, update_time: time }).where("tenant_id", "=", tenantId).where("delete_time", "is", null).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** The tenant's stored policy JSON ("{}" for none, or for a tenant that does not exist). */
export async function tenantPolicyJson(db: Db, tenantId: string): Promise<string> {
  const row = await db.selectFrom("tenants").select("policy").where("tenant_id", "=", tenantId).executeTakeFirst();
  return row?.policy ?? "{}";
}

/** What DeriveToken and JWT verification need of a tenant: its issuer, default audience and policy (undefined: no such tenant). */
export async function tenantTokenRow(db: Db, tenantId: string): Promise<Pick<TenantRow, "jwt_issuer" | "jwt_audience" | "policy"> | undefined> {
  return db.selectFrom("tenants").select(["jwt_issuer", "jwt_audience", "policy"]).where("tenant_id", "=", tenantId).executeTakeFirst();
}

/** How many keys of the tenant are active (unrevoked and unexpired; disabled ones count). */
export async function countActiveKeys(db: Db, tenantId: string, now: number): Promise<number> {
  const row = await db
    .selectFrom("keys")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("tenant_id", "=", tenantId)
    .where("revoke_time", "is", null)
    .where((eb) => eb.or([eb("expire_time", "is", null), eb("expire_time", ">", now)]))
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** Whether the tenant has a key that is unrevoked and unexpired (disabled ones count: they can be enabled). */
export async function hasActiveKeys(db: Db, tenantId: string, now: number): Promise<boolean> {
  const row = await db
    .selectFrom("keys")
    .select("key_id")
    .where("tenant_id", "=", tenantId)
    .where("revoke_time", "is", null)
    .where((eb) => eb.or([eb("expire_time", "is", null), eb("expire_time", ">", now)]))
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Ids of the tenant's unrevoked keys, at most `limit`, locked for update on PostgreSQL (they are about to be revoked). */
export async function unrevokedKeyIds(tx: Transaction<Database>, tenantId: string, lockRows: boolean, limit: number): Promise<string[]> {
  const query = tx.selectFrom("keys").select("key_id").where("tenant_id", "=", tenantId).where("revoke_time", "is", null).orderBy("key_id").limit(limit);
  const rows = await (lockRows ? query.forUpdate() : query).execute();
  return rows.map((r) => r.key_id);
}
