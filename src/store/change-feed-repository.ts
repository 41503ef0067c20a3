import type { Kysely, Transaction } from "kysely";
import type { Database } from "./database.js";
import type { ChangeRow, NewChangeRow } from "./tables/change-feed-table.js";

type Db = Kysely<Database> | Transaction<Database>;

/** Appends one change; call it inside the mutation's transaction. */
export async function appendChange(db: Db, change: NewChangeRow): Promise<number> {
  const row = await db.insertInto("change_feed").values(change).returning("seq").executeTakeFirstOrThrow();
  return Number(row.seq);
}

export async function readChangesAfter(db: Db, seq: number, limit: number): Promise<ChangeRow[]> {
  const rows = await db.selectFrom("change_feed").selectAll().where("seq", ">", seq).orderBy("seq", "asc").limit(limit).execute();
  return rows.map((r) => ({ ...r, seq: Number(r.seq), time: Number(r.time) }));
}

export async function latestChangeSeq(db: Db): Promise<number> {
  const row = await db.selectFrom("change_feed").select((eb) => eb.fn.max("seq").as("seq")).executeTakeFirst();
  return row?.seq == null ? 0 : Number(row.seq);
}
