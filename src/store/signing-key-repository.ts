import type { Kysely, Transaction } from "kysely";
import type { Database } from "./database.js";
import type { NewSigningKeyRow, SigningKeyRow } from "./tables/signing-keys-table.js";

type Db = Kysely<Database> | Transaction<Database>;

export async function findActiveSigningKey(db: Db): Promise<SigningKeyRow | undefined> {
  return db.selectFrom("signing_keys").selectAll().where("retire_time", "is", null).orderBy("create_time", "desc").executeTakeFirst();
}

/** The active key plus retired keys retired after `retiredSince` (their tokens may still be live). */
export async function listPublishedSigningKeys(db: Db, retiredSince: number): Promise<SigningKeyRow[]> {
  return db
    .selectFrom("signing_keys")
    .selectAll()
    .where((eb) => eb.or([eb("retire_time", "is", null), eb("retire_time", ">", retiredSince)]))
    .orderBy("create_time", "desc")
    .execute();
}

export async function insertSigningKey(db: Db, row: NewSigningKeyRow): Promise<void> {
  await db.insertInto("signing_keys").values(row).execute();
}

export async function retireSigningKey(db: Db, kid: string, time: number): Promise<void> {
  await db.updateTable("signing_keys").set({ retire_time: time }).where("kid", "=", kid).where("retire_time", "is", null).execute();
}
