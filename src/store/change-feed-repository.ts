import type { Kysely, Transaction } from "kysely";
import type { Database } from "./database.js";
import type { ChangeRow, NewChangeRow } from "./tables/change-feed-table.js";

type Db = Kysely<Database> | Transaction<Database>;

/**
 * PostgreSQL channel notified (at commit) by every append; followers LISTEN on it to poll early.
 * Migration 0002's trigger spells the same name.
 */
export const CHANGE_FEED_CHANNEL = "sigil_change_feed";

/**
 * Appends one change; call it inside the mutation's transaction. Seq order equals commit order on
 * both engines (SQLite has one writer at a time; on PostgreSQL migration 0002's trigger serializes
 * appends with an advisory lock held to commit), so a follower reading `seq > last` skips nothing.
 */
export async function appendChange(db: Db, change: NewChangeRow): Promise<number> {
  const row = await db.insertInto("change_feed").values(change).returning("seq").executeTakeFirstOrThrow();
  return Number(row.seq);
}

/** Appends several changes in one statement (same ordering guarantee); inside the mutations' transaction. */
export async function appendChanges(db: Db, changes: readonly NewChangeRow[]): Promise<void> {
  if (changes.length > 0) await db.insertInto("change_feed").values([...changes]).execute();
}

export async function readChangesAfter(db: Db, seq: number, limit: number): Promise<ChangeRow[]> {
  const rows = await db.selectFrom("change_feed").selectAll().where("seq", ">", seq).orderBy("seq", "asc").limit(limit).execute();
  return rows.map((r) => ({ ...r, seq: Number(r.seq), time: Number(r.time) }));
}

/** The seq a new follower starts after: the newest change, or the pruning horizon if the feed is empty. */
export async function latestChangeSeq(db: Db): Promise<number> {
  const row = await db.selectFrom("change_feed").select((eb) => eb.fn.max("seq").as("seq")).executeTakeFirst();
  const latest = row?.seq == null ? 0 : Number(row.seq);
  return Math.max(latest, await feedHorizon(db));
}

/** The highest seq pruning has deleted (0 before the first prune): changes at or below it are gone. */
export async function feedHorizon(db: Db): Promise<number> {
  const row = await db.selectFrom("change_feed_horizon").select("pruned_through").where("id", "=", 1).executeTakeFirst();
  return row ? Number(row.pruned_through) : 0;
}

/**
 * Deletes changes older than `cutoffTime`, at most `batchSize` rows (the oldest), and raises the
 * horizon in the same transaction. Returns how many rows went; call again while it returns `batchSize`.
 */
export async function pruneChangesBefore(db: Kysely<Database>, cutoffTime: number, batchSize: number): Promise<number> {
  return db.transaction().execute(async (tx) => {
    const oldest = await tx.selectFrom("change_feed").select("seq").where("time", "<", cutoffTime).orderBy("seq", "asc").limit(batchSize).execute();
    if (oldest.length === 0) return 0;
    const through = Number(oldest[oldest.length - 1]!.seq);
    const deleted = await tx.deleteFrom("change_feed").where("seq", "<=", through).executeTakeFirst();
    // Never lower it: two processes may prune at once.
    await tx.updateTable("change_feed_horizon").set({ pruned_through: through }).where("id", "=", 1).where("pruned_through", "<", through).execute();
    return Number(deleted.numDeletedRows);
  });
}
