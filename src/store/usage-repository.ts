import { sql, type Kysely, type Transaction } from "kysely";
import type { Database } from "./database.js";
import type { NewKeyUsageRow } from "./tables/key-usage-table.js";

type Db = Kysely<Database> | Transaction<Database>;

/** The width of a stored usage row: one minute. */
export const USAGE_MINUTE_MS = 60_000;

/**
 * Adds counts to the stored ones, in one statement: a row another process (or an earlier flush)
 * wrote for the same key, minute and outcome gets the sum. `rows` must not repeat a (key, minute,
 * outcome): PostgreSQL refuses to update one row twice in a statement. A row without `tenant_id`
 * gets its key's, read in the same statement.
 */
export async function addKeyUsage(db: Db, rows: readonly NewKeyUsageRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db
    .insertInto("key_usage")
    .values(rows.map((r) => ({ ...r, tenant_id: r.tenant_id ?? sql<string>`coalesce((select k.tenant_id from keys k where k.key_id = ${r.key_id}), 'default')` })))
    .onConflict((oc) => oc.columns(["key_id", "start_time", "reason"]).doUpdateSet((eb) => ({ count: eb("key_usage.count", "+", eb.ref("excluded.count")) })))
    .execute();
}

export interface KeyUsageQuery {
  /** The key, or '' for the unattributed series. */
  readonly keyId: string;
  /** Start of the first bucket (ms), inclusive. */
  readonly startTime: number;
  /** End of the last bucket (ms), exclusive. */
  readonly endTime: number;
  /** Bucket width (ms), a multiple of a minute. */
  readonly bucketMs: number;
}

/** One outcome's count in one bucket; `bucket` is the bucket's index from the query's start. */
export interface KeyUsageCount {
  readonly bucket: number;
  readonly reason: number;
  readonly count: number;
}

/** The stored minutes of one key within the range, summed per bucket and outcome in the database. */
export async function readKeyUsage(db: Db, q: KeyUsageQuery): Promise<KeyUsageCount[]> {
  // Integer division on both dialects: the parameters are cast, or SQLite would divide as REAL.
  const bucket = sql<number>`(start_time - CAST(${q.startTime} AS BIGINT)) / CAST(${q.bucketMs} AS BIGINT)`;
  const rows = await db
    .selectFrom("key_usage")
    .select([bucket.as("bucket"), "reason", sql<number>`CAST(SUM(count) AS BIGINT)`.as("count")])
    .where("key_id", "=", q.keyId)
    .where("start_time", ">=", q.startTime)
    .where("start_time", "<", q.endTime)
    // By the output name: PostgreSQL would not match a repeated expression with its own parameters.
    .groupBy([sql.ref("bucket"), "reason"])
    .execute();
  return rows.map((r) => ({ bucket: Number(r.bucket), reason: Number(r.reason), count: Number(r.count) }));
}

/**
 * Deletes up to `limit` rows whose minute ended at or before `cutoffTime`; returns how many went
 * (call again while it returns `limit`).
 */
export async function pruneKeyUsageBefore(db: Db, cutoffTime: number, limit: number): Promise<number> {
  const lastStart = cutoffTime - USAGE_MINUTE_MS;
  const r = await db
    .deleteFrom("key_usage")
    .where(({ eb, refTuple, selectFrom }) =>
      eb(
        refTuple("key_id", "start_time", "reason"),
        "in",
        selectFrom("key_usage").select(["key_id", "start_time", "reason"]).where("start_time", "<=", lastStart).limit(limit).$asTuple("key_id", "start_time", "reason"),
      ),
    )
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}
