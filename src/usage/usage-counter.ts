import type { Logger } from "pino";
import type { SigilDb } from "../store/database.js";
import type { NewKeyUsageRow } from "../store/tables/key-usage-table.js";
import { addKeyUsage, USAGE_MINUTE_MS } from "../store/usage-repository.js";

/** Rows written per statement; the event loop gets a turn between statements. */
const CHUNK = 100;

/** The key id under which verifications that name no key are counted. */
export const UNATTRIBUTED = "";

/** Per key: count per outcome, indexed by the VerifyReason number (holes where none occurred). */
type Counts = number[];

/**
 * Usage analytics: counts verifications per key, minute and outcome in memory (on the
 * verification path: a Map lookup and an increment) and adds them to the database every
 * `intervalMs` and on shutdown, one statement per chunk of rows, never a write per call. Each
 * process adds its own counts (an upsert that adds), so the stored series is the exact sum over
 * every worker and instance. What a process has not flushed yet is lost if it is killed: at most
 * one interval of counts.
 */
export class UsageCounter {
  readonly #db: SigilDb;
  readonly #log: Logger;
  readonly #intervalMs: number;
  /** Distinct (minute, key) entries that make a flush start early. */
  readonly #flushAt: number;
  /** Hard bound on entries (while the database refuses flushes): new ones beyond it are dropped, and said so. */
  readonly #maxEntries: number;
  /** Minute number (ms / 60,000) to key id to counts. */
  #pending = new Map<number, Map<string, Counts>>();
  /**
   * The tenant of each pending key, when the verification that first counted it in a minute knew it:
   * its rows then name it, and the flush reads `keys` only for the others (that read per row cost
   * more than the upsert itself: bench/write-back.ts).
   */
  #tenants = new Map<string, string>();
  #entries = 0;
  /** The minute of the last count and its map: nearly every call lands in it. */
  #minute = NaN;
  #current: Map<string, Counts> | undefined;
  /** Verifications not counted because the bound was reached, reported at the next flush. */
  #dropped = 0;
  /** The last flush failed: wait for the timer rather than retry at every new entry. */
  #failing = false;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;

  constructor(db: SigilDb, options: { intervalMs: number; log: Logger; flushAt?: number }) {
    this.#db = db;
    this.#log = options.log;
    this.#intervalMs = options.intervalMs;
    this.#flushAt = options.flushAt ?? 50_000;
    this.#maxEntries = 2 * this.#flushAt;
  }

  start(): void {
    this.#timer = setInterval(() => void this.flush(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Counts one verification's outcome under `keyId` (UNATTRIBUTED for none) in the minute of `nowMs`; `tenantId`: the key's, if known. */
  count(keyId: string, reason: number, nowMs: number, tenantId?: string): void {
    const minute = Math.floor(nowMs / USAGE_MINUTE_MS);
    const keys = minute === this.#minute ? this.#current! : this.#minuteMap(minute);
    let counts = keys.get(keyId);
    if (counts === undefined) {
      if (this.#entries >= this.#maxEntries) {
        this.#dropped++;
        return;
      }
      counts = [];
      counts[reason] = 1;
      keys.set(keyId, counts);
      if (tenantId !== undefined) this.#tenants.set(keyId, tenantId);
      // Counted first: the flush takes this entry with it.
      if (++this.#entries >= this.#flushAt && !this.#failing) void this.flush();
      return;
    }
    counts[reason] = (counts[reason] ?? 0) + 1;
  }

  #minuteMap(minute: number): Map<string, Counts> {
    let keys = this.#pending.get(minute);
    if (keys === undefined) {
      keys = new Map();
      this.#pending.set(minute, keys);
    }
    this.#minute = minute;
    this.#current = keys;
    return keys;
  }

  /** Writes everything counted so far. Concurrent calls share one flush. */
  flush(): Promise<void> {
    this.#flushing ??= this.#write().finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  async #write(): Promise<void> {
    if (this.#dropped > 0) {
      this.#log.warn({ dropped: this.#dropped, entries: this.#entries }, "usage analytics: verifications not counted (too many keys pending while the database refused writes)");
      this.#dropped = 0;
    }
    if (this.#entries === 0) return;
    const rows = this.#takeRows();
    let written = 0;
    try {
      for (; written < rows.length; written += CHUNK) {
        await addKeyUsage(this.#db, inLockOrder(rows.slice(written, written + CHUNK)));
        // better-sqlite3 runs each statement synchronously: let waiting calls through between them.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      this.#failing = false;
    } catch (err) {
      // A failed statement wrote nothing: its rows and the later ones go back, and are added at the next flush.
      this.#failing = true;
      for (const row of rows.slice(written)) this.#putBack(row);
      this.#log.warn({ err: { message: (err as Error).message }, rows: rows.length - written }, "usage analytics flush failed; retrying");
    }
  }

  /** Empties the pending counts into rows. */
  #takeRows(): NewKeyUsageRow[] {
    const pending = this.#pending;
    const tenants = this.#tenants;
    this.#pending = new Map();
    this.#tenants = new Map();
    this.#entries = 0;
    this.#minute = NaN;
    this.#current = undefined;
    const rows: NewKeyUsageRow[] = [];
    for (const [minute, keys] of pending) {
      for (const [keyId, counts] of keys) {
        const tenant = tenants.get(keyId);
        counts.forEach((count, reason) => rows.push({ key_id: keyId, start_time: minute * USAGE_MINUTE_MS, reason, count, ...(tenant === undefined ? {} : { tenant_id: tenant }) }));
      }
    }
    return rows;
  }

  #putBack(row: NewKeyUsageRow): void {
    const keys = this.#minuteMap(row.start_time / USAGE_MINUTE_MS);
    let counts = keys.get(row.key_id);
    if (counts === undefined) {
      if (this.#entries >= this.#maxEntries) {
        this.#dropped += row.count;
        return;
      }
      counts = [];
      keys.set(row.key_id, counts);
      this.#entries++;
    }
    if (row.tenant_id !== undefined) this.#tenants.set(row.key_id, row.tenant_id);
    counts[row.reason] = (counts[row.reason] ?? 0) + row.count;
  }

  /** Stops the timer and writes what is left (call before closing the database). */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#flushing;
    await this.flush();
  }
}

/**
 * A statement's rows sorted by key, minute and outcome: every process's upserts then lock rows in
 * the same order, so concurrent flushes on PostgreSQL cannot deadlock (each statement commits on its
 * own, so sorting within a statement is enough).
 */
function inLockOrder(rows: NewKeyUsageRow[]): NewKeyUsageRow[] {
  return rows.sort((a, b) => (a.key_id < b.key_id ? -1 : a.key_id > b.key_id ? 1 : a.start_time - b.start_time || a.reason - b.reason));
}
