// Bulk seeder for the cache-miss scenarios: N keys written straight into a data directory's
// database (the server must be stopped), their key strings one per line in --out.
// Keys are made with IssueKey's primitives. SQLite goes through the bulk loader (sqlite-bulk-seed.ts:
// worker threads, a staging table, indexes rebuilt once); PostgreSQL through KeyRecords made as
// IssueKey makes them (src/keys/new-key-record.ts), stored in transactions of multi-row inserts.
// The change feed and audit trail are not written, since no process is running to follow them and
// nothing is being audited.
// With --tenants T, T tenants (t0000, t0001, ...) are made and the keys dealt out to them in turn
// (key i to tenant i mod T).
import { createWriteStream } from "node:fs";
import { parseArgs } from "node:util";
import { loadServerSecrets, prepareDataDir, prepareSqliteFiles, sqliteFile } from "../src/app/data-dir.js";
import { loadConfig } from "../src/config/config.js";
import { KeyHasher } from "../src/keys/key-hasher.js";
import { rowFromRecord } from "../src/keys/key-record.js";
import { newKeyRecord } from "../src/keys/new-key-record.js";
import { insertKeys } from "../src/store/key-repository.js";
import { migrateToLatest } from "../src/store/migrations.js";
import { insertTenant } from "../src/store/tenant-repository.js";
import { openDatabase } from "../src/store/open-database.js";
import { bulkSeedSqlite } from "./sqlite-bulk-seed.js";

const { values } = parseArgs({
  options: { "data-dir": { type: "string" }, count: { type: "string" }, out: { type: "string" }, tenants: { type: "string" } },
  strict: true,
});
const count = Number(values.count);
const tenantCount = values.tenants === undefined ? 0 : Number(values.tenants);
if (!values["data-dir"] || !values.out || !Number.isInteger(count) || count < 1 || count > 10_000_000 || !Number.isInteger(tenantCount) || tenantCount < 0 || tenantCount > 10_000) {
  process.stderr.write("usage: seed.js --data-dir DIR --count N (1..10,000,000) --out FILE [--tenants T (0..10,000)]\n");
  process.exit(2);
}

const config = loadConfig([], { ...process.env, SIGIL_DATA_DIR: values["data-dir"] });
prepareDataDir(config.dataDir);
prepareSqliteFiles(config.databaseUrl, config.dataDir);
const secrets = loadServerSecrets(config.serverSecret, config.dataDir);
const hasher = new KeyHasher(secrets);
const { db, dialect } = openDatabase(config.databaseUrl);
await migrateToLatest(db, dialect);
const tenantIds = Array.from({ length: tenantCount }, (_, i) => `t${String(i).padStart(4, "0")}`);
for (const tenantId of tenantIds) {
  const now = Date.now();
  await insertTenant(db, { tenant_id: tenantId, display_name: tenantId, create_time: now, update_time: now, delete_time: null });
}

const started = performance.now();
const sqlite = sqliteFile(config.databaseUrl);
if (sqlite !== undefined) {
  await db.destroy();
  const stages = await bulkSeedSqlite({
    file: sqlite,
    count,
    prefix: config.keyPrefix,
    secrets,
    outFile: values.out,
    tenantCount,
    progress: (line) => process.stderr.write(`${line}\n`),
  });
  const seconds = (performance.now() - started) / 1000;
  process.stderr.write(
    `seeded ${count} keys in ${seconds.toFixed(1)} s (${Math.round(count / seconds)} keys/s; generate+stage ${stages.generateSeconds.toFixed(1)} s, ` +
      `copy ${stages.copySeconds.toFixed(1)} s, indexes ${stages.indexSeconds.toFixed(1)} s)\n`,
  );
  process.exit(0);
}

const out = createWriteStream(values.out, { mode: 0o600 });
const ROWS_PER_STATEMENT = 200;
const STATEMENTS_PER_TRANSACTION = 50;
let written = 0;
while (written < count) {
  const lines: string[] = [];
  await db.transaction().execute(async (tx) => {
    for (let s = 0; s < STATEMENTS_PER_TRANSACTION && written < count; s++) {
      const rows = [];
      for (let r = 0; r < ROWS_PER_STATEMENT && written < count; r++, written++) {
        const { record, key } = newKeyRecord(
          {
            name: `seed ${written}`,
            owner: `svc:seed-${written % 100}`,
            scopes: ["read", "write"],
            metadata: {},
            expireTime: null,
            ...(tenantIds.length > 0 ? { tenantId: tenantIds[written % tenantIds.length]! } : {}),
          },
          { prefix: config.keyPrefix, hasher, now: Date.now() },
        );
        rows.push(rowFromRecord(record));
        lines.push(key);
      }
      await insertKeys(tx, rows);
    }
  });
  if (!out.write(lines.join("\n") + "\n")) await new Promise<void>((resolve) => out.once("drain", () => resolve()));
  if (written % 100_000 < ROWS_PER_STATEMENT * STATEMENTS_PER_TRANSACTION) process.stderr.write(`seeded ${written}/${count}\n`);
}
await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
await db.destroy();
process.stderr.write(`seeded ${count} keys in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
