// The SQLite bulk seeder behind seed.js: keys made in worker threads (seed-key-worker.ts), loaded
// with a raw prepared statement into an unindexed temporary staging table, then copied into `keys`
// in key-id order with its secondary indexes dropped and rebuilt afterwards. The server must be
// stopped. The load runs with its journal in memory and without syncs (a failed seeding is thrown away,
// not recovered); the database is left as the server expects it: WAL mode, the schema it had.
import { closeSync, openSync, writeSync } from "node:fs";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import BetterSqlite3 from "better-sqlite3";
import type { ServerSecrets } from "../src/keys/server-secrets.js";
import { DEFAULT_TENANT } from "../src/tenants/tenant-id.js";
// Types only: importing the worker module would run it.
import type { SeedBatch, SeedWorkerData } from "./seed-key-worker.js";

export interface BulkSeedOptions {
  /** The database file; migrated already. */
  file: string;
  count: number;
  prefix: string;
  secrets: ServerSecrets;
  /** Receives the key strings, one per line (created mode 0600, truncated). */
  outFile: string;
  /** Keys are dealt out to tenants t0000 … t<T-1> in turn (key n to n mod T), which must exist; 0: all in `default`. */
  tenantCount?: number;
  workers?: number;
  progress?: (line: string) => void;
}

const WORKER_SCRIPT = new URL("./seed-key-worker.js", import.meta.url);
const BATCH_SIZE = 4096;
/** Rows per staging INSERT statement (4 parameters each; SQLite allows 32,766). */
const ROWS_PER_STATEMENT = 128;
/** Page cache of the load: the sorter and the index builds spill to temporary files beyond it. */
const LOAD_CACHE_KIB = 1024 * 1024;

function journalMode(db: BetterSqlite3.Database, mode: string): void {
  let now: unknown;
  try {
    now = db.pragma(`main.journal_mode = ${mode}`, { simple: true });
  } catch (err) {
    now = err instanceof Error ? err.message : String(err);
  }
  if (String(now).toUpperCase() !== mode) throw new Error(`journal_mode could not become ${mode} (${String(now)}): is a server running on this database?`);
}

/** Seeds `count` keys; resolves with the seconds each stage took. */
export async function bulkSeedSqlite(options: BulkSeedOptions): Promise<{ generateSeconds: number; copySeconds: number; indexSeconds: number }> {
  const { file, count, prefix, secrets } = options;
  const progress = options.progress ?? (() => {});
  const db = new BetterSqlite3(file);
  const out = openSync(options.outFile, "w", 0o600);
  try {
    // Out of WAL (which only a sole connection may leave: a running server makes this fail) into a
    // rollback journal held in memory; the load's new pages are not journaled at all. (OFF is refused:
    // better-sqlite3 opens connections in defensive mode.)
    journalMode(db, "DELETE");
    journalMode(db, "MEMORY");
    db.pragma("synchronous = OFF");
    db.pragma(`cache_size = -${LOAD_CACHE_KIB}`);
    db.pragma("temp_store = FILE");
    // The sorter behind ORDER BY and CREATE INDEX may use helper threads.
    db.pragma("threads = 4");
    db.exec("CREATE TEMP TABLE seed_staging (n INTEGER NOT NULL, key_id TEXT NOT NULL, secret_hash TEXT NOT NULL, secret_hint TEXT NOT NULL)");

    const started = performance.now();
    const keyLength = prefix.length + 2 + 16 + 43 + 6;
    const rowSql = "(?, ?, ?, ?)";
    const insertMany = db.prepare(`INSERT INTO seed_staging VALUES ${Array(ROWS_PER_STATEMENT).fill(rowSql).join(", ")}`);
    const insertOne = db.prepare(`INSERT INTO seed_staging VALUES ${rowSql}`);
    const params: Array<string | number> = new Array(4 * ROWS_PER_STATEMENT);
    const stage = db.transaction((batch: SeedBatch) => {
      let i = 0;
      const rowAt = (row: number, into: Array<string | number>, at: number): void => {
        const start = row * (keyLength + 1);
        into[at] = batch.first + row;
        into[at + 1] = batch.keys.substr(start + prefix.length + 1, 16);
        into[at + 2] = batch.hashes.substr(row * 44, 44);
        // The hint is the key's last 4 characters (checksum, not secret), as newKeyRecord sets it.
        into[at + 3] = batch.keys.substr(start + keyLength - 4, 4);
      };
      for (; i + ROWS_PER_STATEMENT <= batch.count; i += ROWS_PER_STATEMENT) {
        for (let r = 0; r < ROWS_PER_STATEMENT; r++) rowAt(i + r, params, 4 * r);
        insertMany.run(params);
      }
      const one: Array<string | number> = new Array(4);
      for (; i < batch.count; i++) {
        rowAt(i, one, 0);
        insertOne.run(one);
      }
    });

    const workerCount = Math.max(1, Math.min(options.workers ?? availableParallelism(), Math.ceil(count / BATCH_SIZE)));
    let staged = 0;
    let nextReport = 100_000;
    await Promise.all(
      Array.from({ length: workerCount }, (_, w) => {
        const first = Math.floor((count * w) / workerCount);
        const end = Math.floor((count * (w + 1)) / workerCount);
        const outstanding = new SharedArrayBuffer(4);
        const counter = new Int32Array(outstanding);
        const data: SeedWorkerData = { prefix, secrets, first, end, batchSize: BATCH_SIZE, outstanding };
        const worker = new Worker(WORKER_SCRIPT, { workerData: data });
        return new Promise<void>((resolve, reject) => {
          worker.on("message", (batch: SeedBatch) => {
            try {
              if (batch.keys.length !== batch.count * (keyLength + 1) || batch.hashes.length !== batch.count * 44) throw new Error("seed worker sent a malformed batch");
              stage(batch);
              writeSync(out, batch.keys);
            } catch (err) {
              void worker.terminate();
              reject(err);
              return;
            }
            Atomics.sub(counter, 0, 1);
            Atomics.notify(counter, 0);
            staged += batch.count;
            if (staged >= nextReport) {
              progress(`generated ${staged}/${count}`);
              nextReport += 100_000;
            }
          });
          worker.on("error", reject);
          worker.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`seed worker exited with code ${code}`))));
        });
      }),
    );
    if (staged !== count) throw new Error(`staged ${staged} keys, expected ${count}`);
    const generated = performance.now();
    progress(`generated ${count} keys in ${((generated - started) / 1000).toFixed(1)} s; copying into keys`);

    // Secondary indexes are rebuilt once over the whole table rather than updated row by row.
    const indexes = db
      .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'keys' AND sql IS NOT NULL")
      .all() as Array<{ name: string; sql: string }>;
    const now = Date.now();
    const hashVersion = secrets.current;
    let copied = 0;
    db.transaction(() => {
      for (const index of indexes) db.exec(`DROP INDEX "${index.name.replaceAll('"', '""')}"`);
      // Constant columns as seed.js has always written them; create times ascend with the seed number, all in the past.
      copied = db
        .prepare(
          `INSERT INTO keys (key_id, prefix, name, owner, scopes, metadata, secret_hash, hash_version, create_time, update_time,
             expire_time, revoke_time, revoke_reason, enabled, imported, secret_create_time, secret_hint, tenant_id)
           SELECT key_id, @prefix, 'seed ' || n, 'svc:seed-' || (n % 100), '["read","write"]', '{}', secret_hash, @hashVersion,
             @base + n, @base + n, NULL, NULL, NULL, 1, 0, @base + n, secret_hint,
             CASE WHEN @tenants = 0 THEN @tenant ELSE 't' || printf('%04d', n % @tenants) END
           FROM seed_staging ORDER BY key_id`,
        )
        .run({ prefix, hashVersion, base: now - count, tenant: DEFAULT_TENANT, tenants: options.tenantCount ?? 0 }).changes;
    })();
    if (copied !== count) throw new Error(`copied ${copied} keys, expected ${count}`);
    const copiedAt = performance.now();
    progress(`copied in ${((copiedAt - generated) / 1000).toFixed(1)} s; rebuilding ${indexes.length} indexes`);
    db.exec("DROP TABLE seed_staging");
    db.transaction(() => {
      for (const index of indexes) db.exec(index.sql);
    })();
    const indexed = performance.now();
    // Back to WAL on a fresh connection: this one's statements on the staging table keep it from switching.
    db.close();
    const after = new BetterSqlite3(file);
    try {
      journalMode(after, "WAL");
      after.pragma("wal_checkpoint(TRUNCATE)");
    } finally {
      after.close();
    }
    return {
      generateSeconds: (generated - started) / 1000,
      copySeconds: (copiedAt - generated) / 1000,
      indexSeconds: (indexed - copiedAt) / 1000,
    };
  } finally {
    closeSync(out);
    if (db.open) db.close();
  }
}
