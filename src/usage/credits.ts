import { sql } from "kysely";
import type { SigilDb } from "../store/database.js";

/** A key's usage credits as its record was loaded. `remaining` is a snapshot; the row is the truth. */
export interface CreditsConfig {
  readonly remaining: number;
  /** What `remaining` is reset to at each refill; null without refills. */
  readonly refillAmount: number | null;
  readonly refillIntervalMs: number | null;
  /** The last refill boundary (or when the credits were set); refills happen every interval after it. */
  readonly refillTime: number | null;
}

/** What one verification did to its key's credits. */
export interface CreditsOutcome {
  readonly allowed: boolean;
  readonly remaining: number;
  readonly nextRefillTime: number | null;
  /** The refill rule (null without refills): the gateways advertise it as RateLimit-Policy. */
  readonly refillAmount: number | null;
  readonly refillIntervalMs: number | null;
}

/**
 * Usage credits, decremented in the database by one conditional UPDATE per successful verification
 * of a metered key: the refill (if one is due) and the decrement happen in the same statement, and
 * the row is only changed when enough credits are left. SQLite runs writers one at a time and
 * PostgreSQL re-checks the WHERE clause on the latest row version after the row lock, so no
 * decrement is lost or counted twice, whatever the number of processes. That costs one write per
 * verification of a metered key (unmetered keys never touch the database).
 */
export class CreditLedger {
  readonly #db: SigilDb;

  constructor(db: SigilDb) {
    this.#db = db;
  }

  async consume(keyId: string, cost: number, nowMs: number): Promise<CreditsOutcome> {
    // better-sqlite3 binds JS numbers as REAL; the casts keep the refill arithmetic integral.
    const now = sql<number>`cast(${nowMs} as bigint)`;
    const due = sql<boolean>`(credits_refill_interval_ms is not null and ${now} >= credits_refill_time + credits_refill_interval_ms)`;
    const available = sql<number>`(case when ${due} then credits_refill_amount else credits_remaining end)`;
    const boundary = sql<number>`(credits_refill_time + ((${now} - credits_refill_time) / credits_refill_interval_ms) * credits_refill_interval_ms)`;
    const row = await this.#db
      .updateTable("keys")
      .set({
        credits_remaining: sql<number>`${available} - cast(${cost} as bigint)`,
        credits_refill_time: sql<number>`case when ${due} then ${boundary} else credits_refill_time end`,
      })
      .where("key_id", "=", keyId)
      .where("credits_remaining", "is not", null)
      .where(sql<boolean>`${available} >= cast(${cost} as bigint)`)
      .returning(["credits_remaining", "credits_refill_time", "credits_refill_interval_ms", "credits_refill_amount"])
      .executeTakeFirst();
    if (row) {
      return {
        allowed: true,
        remaining: Number(row.credits_remaining),
        nextRefillTime: nextRefill(row.credits_refill_time, row.credits_refill_interval_ms),
        ...refillRule(row),
      };
    }
    const current = await this.#row(keyId);
    return { allowed: false, ...(current ? creditsAt(current, nowMs) : { remaining: 0, nextRefillTime: null }), ...refillRule(current) };
  }

  /** The key's credit columns, for the answer to a refused decrement (a due refill counted, not written). */
  #row(keyId: string) {
    return this.#db
      .selectFrom("keys")
      .select(["credits_remaining", "credits_refill_amount", "credits_refill_time", "credits_refill_interval_ms"])
      .where("key_id", "=", keyId)
      .executeTakeFirst();
  }
}

/** Remaining credits and next refill of a row as of `nowMs`, applying any refill that is due. */
export function creditsAt(
  row: { credits_remaining: number | null; credits_refill_amount: number | null; credits_refill_time: number | null; credits_refill_interval_ms: number | null },
  nowMs: number,
): { remaining: number; nextRefillTime: number | null } {
  const remaining = Number(row.credits_remaining ?? 0);
  const interval = row.credits_refill_interval_ms === null ? null : Number(row.credits_refill_interval_ms);
  const last = row.credits_refill_time === null ? null : Number(row.credits_refill_time);
  if (interval === null || last === null) return { remaining, nextRefillTime: null };
  if (nowMs < last + interval) return { remaining, nextRefillTime: last + interval };
  const boundary = last + Math.floor((nowMs - last) / interval) * interval;
  return { remaining: Number(row.credits_refill_amount ?? 0), nextRefillTime: boundary + interval };
}

function refillRule(row: { credits_refill_amount: number | null; credits_refill_interval_ms: number | null } | undefined): { refillAmount: number | null; refillIntervalMs: number | null } {
  if (!row || row.credits_refill_amount === null || row.credits_refill_interval_ms === null) return { refillAmount: null, refillIntervalMs: null };
  return { refillAmount: Number(row.credits_refill_amount), refillIntervalMs: Number(row.credits_refill_interval_ms) };
}

function nextRefill(refillTime: number | null, intervalMs: number | null): number | null {
  return refillTime === null || intervalMs === null ? null : Number(refillTime) + Number(intervalMs);
}
