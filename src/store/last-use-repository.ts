import { sql } from "kysely";
import type { DialectName, SigilDb } from "./database.js";

/** A key id and the time (ms) it was last used. */
export type LastUse = readonly [keyId: string, time: number];

/** Writes last-use times: each key's unless a later one is stored (another process may have written it). */
export interface LastUseWriter {
  /** Writes `entries` (distinct keys); returns those left for a later flush because their rows were busy. */
  write(entries: readonly LastUse[]): Promise<LastUse[]>;
}

export function lastUseWriter(db: SigilDb, dialect: DialectName): LastUseWriter {
  return dialect === "postgres" ? new PostgresLastUseWriter(db) : new SqliteLastUseWriter(db);
}

const usedRows = (entries: readonly LastUse[]) => sql.join(entries.map(([keyId, time]) => sql`(${keyId}, CAST(${time} AS BIGINT))`));

/**
 * SQLite: one statement for all of them. A write holds the database's write lock, not row locks,
 * so nothing it waits for can be waiting for it. UPDATE ... FROM joins each key's row to its entry
 * once; the form before it (a CTE read by two correlated subqueries per row) cost about a quarter
 * more CPU per key (in-process on 1,000,000 keys, 100 keys a statement: 17-18 against 23-24 µs).
 * The entries are distinct keys, so no row matches two of them.
 */
class SqliteLastUseWriter implements LastUseWriter {
  readonly #db: SigilDb;

  constructor(db: SigilDb) {
    this.#db = db;
  }

  async write(entries: readonly LastUse[]): Promise<LastUse[]> {
    // SQLite names a VALUES list's columns column1, column2.
    await sql`UPDATE keys SET last_use_time = used.column2 FROM (VALUES ${usedRows(entries)}) AS used
      WHERE keys.key_id = used.column1 AND (keys.last_use_time IS NULL OR keys.last_use_time < used.column2)`.execute(this.#db);
    return [];
  }
}

/** Rows left busy by the batch that get one short wait each before going back to the next flush. */
const MAX_WAITED_ROWS = 8;
/** How long one such row is waited for. */
const ROW_WAIT = "100ms";

/**
 * PostgreSQL: the batch never waits for a row. Every admin call holds its key's row FOR SHARE
 * while it runs (ActorRecheck), and admin keys are the most used keys; a batch UPDATE that waited
 * for such a row held all the rows it had already updated meanwhile, so other mutations queued
 * behind it, two processes' batches deadlocked, and under constant admin traffic the wait reached
 * the query timeout. So the batch locks in key order and skips busy rows (`SKIP LOCKED`); each of
 * the few it skipped then gets a statement of its own that holds nothing else and waits at most
 * ROW_WAIT; what is still busy goes back for the next flush.
 */
class PostgresLastUseWriter implements LastUseWriter {
  readonly #db: SigilDb;

  constructor(db: SigilDb) {
    this.#db = db;
  }

  async write(entries: readonly LastUse[]): Promise<LastUse[]> {
    const busy = await this.#writeFreeRows(entries);
    const left: LastUse[] = busy.slice(MAX_WAITED_ROWS);
    for (const entry of busy.slice(0, MAX_WAITED_ROWS)) {
      if (!(await this.#writeOneRow(entry))) left.push(entry);
    }
    return left;
  }

  /** Writes every entry whose row is free; returns the ones whose row was locked and still needs the write. */
  async #writeFreeRows(entries: readonly LastUse[]): Promise<LastUse[]> {
    const { rows } = await sql<{ key_id: string; time: string | number }>`WITH used(key_id, time) AS (VALUES ${usedRows(entries)}),
      free AS (
        SELECT k.key_id FROM keys k JOIN used u ON u.key_id = k.key_id
        WHERE k.last_use_time IS NULL OR k.last_use_time < u.time
        ORDER BY k.key_id
        FOR NO KEY UPDATE OF k SKIP LOCKED
      ),
      written AS (
        UPDATE keys SET last_use_time = u.time FROM used u
        WHERE keys.key_id = u.key_id AND keys.key_id IN (SELECT key_id FROM free)
        RETURNING keys.key_id
      )
      SELECT u.key_id, u.time FROM used u JOIN keys k ON k.key_id = u.key_id
      WHERE (k.last_use_time IS NULL OR k.last_use_time < u.time)
        AND NOT EXISTS (SELECT 1 FROM free f WHERE f.key_id = u.key_id)`.execute(this.#db);
    return rows.map((r) => [r.key_id, Number(r.time)] as const);
  }

  /** One row, waiting at most ROW_WAIT for it; false when it stayed locked. */
  async #writeOneRow([keyId, time]: LastUse): Promise<boolean> {
    try {
      await this.#db.transaction().execute(async (tx) => {
        await sql`SET LOCAL lock_timeout = ${sql.lit(ROW_WAIT)}`.execute(tx);
        await sql`UPDATE keys SET last_use_time = CAST(${time} AS BIGINT)
          WHERE key_id = ${keyId} AND (last_use_time IS NULL OR last_use_time < CAST(${time} AS BIGINT))`.execute(tx);
      });
      return true;
    } catch (err) {
      if ((err as { code?: unknown }).code === "55P03") return false; // lock_not_available
      throw err;
    }
  }
}
