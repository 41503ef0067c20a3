// The cache-miss read in-process (issue #14 item 1): CPU time per load of a random stored key, on a
// seeded database of N keys (default 1,000,000), for the old miss path (`select *` through Kysely,
// then recordFromRow) beside the new one (the narrow array-row statement, then the KeyDirectory),
// and their parts. Through the server's own wrapped Kysely (openDatabase with the database metrics
// of ObservedDialect), one load at a time. CPU is this process's (process.cpuUsage), plus on
// PostgreSQL the cluster's (postmaster and backends, from /proc): it survives a loaded machine
// better than rates. Variants alternate round by round; each figure is the median of the rounds.
//
//   node dist/bench/miss-path.js [--dialect sqlite|postgres] [--data-dir DIR] [--before-data-dir DIR] [--count N] [--loads N] [--rounds N] [--layouts]
//                                [--sqlite-cache-kib N] [--sqlite-mmap-mib N]
//
// SQLite: --data-dir reuses a seeded data directory (seed.js, server stopped); without it one is
// seeded in a temporary directory and removed afterwards. --before-data-dir (SQLite) runs the old
// path's variants on another seeded data directory instead, one seeded by the build before the
// change (its `keys` a rowid table), so before and after are timed side by side in one process.
// PostgreSQL: a throwaway cluster, seeded.
// --layouts (SQLite) instead times the storage layouts the narrow read could use, on better-sqlite3
// directly: the narrow columns by primary key (the `keys` table's key-id index, then its row),
// from a covering index of those columns, from a narrow WITHOUT ROWID copy of them, and from the
// whole table rebuilt WITHOUT ROWID. It adds that index and those tables to the database (so give it a copy of a seeded data directory, or none).
// --sqlite-cache-kib and --sqlite-mmap-mib set SQLite's page cache and memory map for the run
// (experiments: the server keeps SQLite's defaults, a 2 MiB page cache and no memory map).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import BetterSqlite3 from "better-sqlite3";
import { CompiledQuery, sql } from "kysely";
import { Registry } from "prom-client";
import { KeyDirectory } from "../src/cache/key-directory.js";
import { recordFromRow } from "../src/keys/key-record.js";
import { DatabaseMetrics } from "../src/observability/database-metrics.js";
import { ObservedDialect } from "../src/observability/observed-dialect.js";
import type { DialectName } from "../src/store/database.js";
import { findKey } from "../src/store/key-repository.js";
import { openDatabase, type OpenedDatabase } from "../src/store/open-database.js";
import { findVerifyingKey, VERIFYING_KEY_STATEMENT } from "../src/store/verifying-key-repository.js";
import { startPostgres, type BenchPostgres } from "./servers/postgres-server.js";
import { readTreeCpuSeconds } from "./servers/proc-stats.js";

const { values } = parseArgs({
  options: {
    dialect: { type: "string", default: "sqlite" },
    "data-dir": { type: "string" },
    "before-data-dir": { type: "string" },
    count: { type: "string", default: "1000000" },
    loads: { type: "string", default: "20000" },
    rounds: { type: "string", default: "5" },
    layouts: { type: "boolean", default: false },
    "sqlite-cache-kib": { type: "string" },
    "sqlite-mmap-mib": { type: "string" },
  },
  strict: true,
});
const dialect = values.dialect as DialectName;
const count = Number(values.count);
const loads = Number(values.loads);
const rounds = Number(values.rounds);
if ((dialect !== "sqlite" && dialect !== "postgres") || !(count >= 1) || !(loads >= 1) || !(rounds >= 1) || ((values["data-dir"] || values["before-data-dir"]) && dialect !== "sqlite")) {
  process.stderr.write("usage: miss-path.js [--dialect sqlite|postgres] [--data-dir DIR (sqlite)] [--count N] [--loads N] [--rounds N] [--layouts]\n");
  process.exit(2);
}

const SEED_SCRIPT = new URL("./seed.js", import.meta.url).pathname;
const scratch = mkdtempSync(path.join(tmpdir(), "sigil-miss-path-"));
const dataDir = values["data-dir"] ?? path.join(scratch, "data");
let postgres: BenchPostgres | undefined;

/** A variant: one load of `keyId`, resolved when done (its result is checked, so nothing is optimized away). */
interface Variant {
  readonly name: string;
  /** Key ids of the database it reads. */
  readonly ids: readonly string[];
  readonly what: string;
  load(keyId: string): unknown;
}

function seed(databaseUrl: string | undefined): void {
  const started = performance.now();
  execFileSync(process.execPath, [SEED_SCRIPT, "--data-dir", dataDir, "--count", String(count), "--out", path.join(scratch, "keys.txt")], {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, ...(databaseUrl ? { SIGIL_DATABASE_URL: databaseUrl } : {}) },
  });
  console.log(`seeded ${count.toLocaleString("en")} keys in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/** A deterministic random draw of `n` stored key ids (mulberry32), the same for every variant. */
function draw(ids: readonly string[], n: number, seedValue: number): string[] {
  let a = seedValue >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: n }, () => ids[Math.floor(next() * ids.length)]!);
}

/** µs of CPU (this process, and PostgreSQL's when it runs) and of wall time per load. */
async function time(variant: Variant, keys: readonly string[]): Promise<{ cpuUs: number; wallUs: number; dbCpuUs: number }> {
  const dbBefore = postgres ? readTreeCpuSeconds([postgres.postmasterPid]) ?? 0 : 0;
  const before = process.cpuUsage();
  const started = performance.now();
  for (const keyId of keys) {
    const found = await variant.load(keyId);
    if (found === undefined || found === null) throw new Error(`${variant.name}: key ${keyId} not found`);
  }
  const wall = performance.now() - started;
  const cpu = process.cpuUsage(before);
  const dbCpu = postgres ? (readTreeCpuSeconds([postgres.postmasterPid]) ?? 0) - dbBefore : 0;
  return { cpuUs: (cpu.user + cpu.system) / keys.length, wallUs: (wall * 1000) / keys.length, dbCpuUs: (dbCpu * 1e6) / keys.length };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function openObserved(databaseUrl: string): OpenedDatabase {
  // As the server opens it: the database metrics of ObservedDialect on every call.
  const metrics = new DatabaseMetrics(new Registry());
  return openDatabase(databaseUrl, { wrapDialect: (inner, name) => new ObservedDialect(inner, name, { metrics }) });
}

/** The narrow statement's text plus a space: not an array-row statement, so object rows, and unnamed on PostgreSQL. */
const narrowObjects = (d: DialectName) => CompiledQuery.raw(`${VERIFYING_KEY_STATEMENT.sql[d]} `, []);

function kyselyVariants(opened: OpenedDatabase, ids: readonly string[], before: { db: OpenedDatabase["db"]; ids: readonly string[]; where: string }): Variant[] {
  const { db } = opened;
  const objects = narrowObjects(dialect);
  const arrays = CompiledQuery.raw(VERIFYING_KEY_STATEMENT.sql[dialect], []);
  const directory = new KeyDirectory(opened, { capacity: 1 });
  return [
    { name: "full-row", ids: before.ids, what: `select * by key id through Kysely (object row), no decoding${before.where}`, load: (id) => findKey(before.db, id) },
    { name: "full-record", ids: before.ids, what: `BEFORE: select * through Kysely, then recordFromRow (the old miss path)${before.where}`, load: async (id) => recordFromRow((await findKey(before.db, id))!) },
    { name: "narrow-objects", ids, what: "the narrow columns through Kysely as an object row (unnamed), no decoding", load: async (id) => (await db.executeQuery({ ...objects, parameters: [id] })).rows[0] },
    { name: "narrow-arrays", ids, what: "the narrow array-row statement through Kysely (named on PostgreSQL), no decoding", load: async (id) => (await db.executeQuery({ ...arrays, parameters: [id] })).rows[0] },
    { name: "narrow-key", ids, what: "AFTER: findVerifyingKey (narrow array row, decoded into a VerifyingKey)", load: (id) => findVerifyingKey(db, dialect, id) },
    { name: "directory", ids, what: "AFTER: KeyDirectory.get with a one-entry cache (every get a miss), the server's miss path", load: (id) => directory.get(id) },
  ];
}

function sqlitePragmas(): string[] {
  const pragmas: string[] = [];
  if (values["sqlite-cache-kib"]) pragmas.push(`cache_size = -${Math.trunc(Number(values["sqlite-cache-kib"]))}`);
  if (values["sqlite-mmap-mib"]) pragmas.push(`mmap_size = ${Math.trunc(Number(values["sqlite-mmap-mib"])) * 1024 * 1024}`);
  return pragmas;
}

/** --layouts: the narrow read on better-sqlite3 directly, from three storage layouts. */
function layoutVariants(file: string, ids: readonly string[]): { variants: Variant[]; close(): void } {
  const setup = new BetterSqlite3(file);
  const columns = VERIFYING_KEY_STATEMENT.sql.sqlite.slice("select ".length, VERIFYING_KEY_STATEMENT.sql.sqlite.indexOf(` from "keys"`));
  const plainColumns = columns.replace(/ is not null/g, "");
  const started = performance.now();
  setup.exec(`create index if not exists bench_keys_verifying on keys (${plainColumns})`);
  setup.exec(`create table if not exists bench_verifying_keys (${plainColumns.replace(`"key_id"`, `"key_id" text primary key`)}) without rowid`);
  if ((setup.prepare("select count(*) from bench_verifying_keys").pluck().get() as number) === 0) setup.exec(`insert into bench_verifying_keys select ${plainColumns} from keys order by key_id`);
  // The whole `keys` table as WITHOUT ROWID: one B-tree, searched by key id straight to the row.
  const keysSql = setup.prepare("select sql from sqlite_master where type = 'table' and name = 'keys'").pluck().get() as string;
  setup.exec(`${keysSql.replace(/^CREATE TABLE "?keys"?/i, "create table if not exists bench_keys_without_rowid")} without rowid`);
  if ((setup.prepare("select count(*) from bench_keys_without_rowid").pluck().get() as number) === 0) setup.exec("insert into bench_keys_without_rowid select * from keys order by key_id");
  setup.exec("analyze");
  console.log(`layouts built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  setup.close();
  const db = new BetterSqlite3(file, { readonly: true });
  for (const pragma of sqlitePragmas()) db.pragma(pragma);
  // The primary key's index is what a plain select by key_id uses without the covering index: name it.
  const autoindex = db.prepare("select name from sqlite_master where type = 'index' and tbl_name = 'keys' and name like 'sqlite_autoindex_keys%'").pluck().get() as string;
  const viaPk = db.prepare(VERIFYING_KEY_STATEMENT.sql.sqlite.replace(`from "keys"`, `from "keys" indexed by "${autoindex}"`)).raw(true);
  const viaCovering = db.prepare(VERIFYING_KEY_STATEMENT.sql.sqlite.replace(`from "keys"`, `from "keys" indexed by bench_keys_verifying`)).raw(true);
  const viaTable = db.prepare(VERIFYING_KEY_STATEMENT.sql.sqlite.replace(`from "keys"`, `from bench_verifying_keys`)).raw(true);
  const full = db.prepare(`select * from "keys" indexed by "${autoindex}" where "key_id" = ?`);
  const fullWithoutRowid = db.prepare(`select * from bench_keys_without_rowid where "key_id" = ?`);
  const narrowWithoutRowid = db.prepare(VERIFYING_KEY_STATEMENT.sql.sqlite.replace(`from "keys"`, `from bench_keys_without_rowid`)).raw(true);
  for (const [name, s] of [["primary key", viaPk], ["covering index", viaCovering], ["narrow without rowid table", viaTable], ["keys without rowid", narrowWithoutRowid]] as const) {
    console.log(`  plan (${name}): ${(db.prepare(`explain query plan ${s.source}`).all("x") as Array<{ detail: string }>).map((r) => r.detail).join("; ")}`);
  }
  return {
    variants: [
      { name: "sqlite-full", ids, what: "better-sqlite3 alone: select * by key id (object row)", load: (id) => full.get(id) },
      { name: "sqlite-pk", ids, what: "better-sqlite3 alone: narrow columns by key id from keys (index, then row; array)", load: (id) => viaPk.get(id) },
      { name: "sqlite-covering", ids, what: "better-sqlite3 alone: narrow columns from a covering index (array)", load: (id) => viaCovering.get(id) },
      { name: "sqlite-narrow-table", ids, what: "better-sqlite3 alone: narrow columns from a narrow WITHOUT ROWID table (array)", load: (id) => viaTable.get(id) },
      { name: "sqlite-wr-full", ids, what: "better-sqlite3 alone: select * from keys rebuilt WITHOUT ROWID (object row)", load: (id) => fullWithoutRowid.get(id) },
      { name: "sqlite-wr-narrow", ids, what: "better-sqlite3 alone: narrow columns from keys rebuilt WITHOUT ROWID (array)", load: (id) => narrowWithoutRowid.get(id) },
    ],
    close: () => db.close(),
  };
}

async function main(): Promise<void> {
  let databaseUrl: string;
  if (dialect === "postgres") {
    postgres = await startPostgres();
    databaseUrl = postgres.databaseUrl;
    seed(databaseUrl);
  } else {
    if (!values["data-dir"]) seed(undefined);
    databaseUrl = `sqlite:${path.join(dataDir, "sigil.db")}`;
  }
  const opened = openObserved(databaseUrl);
  const beforeDir = values["before-data-dir"];
  const beforeOpened = beforeDir ? openObserved(`sqlite:${path.join(beforeDir, "sigil.db")}`) : opened;
  const pragmas = sqlitePragmas();
  if (dialect === "sqlite") for (const pragma of pragmas) for (const o of new Set([opened, beforeOpened])) await sql.raw(`pragma ${pragma}`).execute(o.db);
  if (pragmas.length > 0) console.log(`SQLite: pragma ${pragmas.join(", ")}`);
  const idsOf = async (o: OpenedDatabase) => (await o.db.selectFrom("keys").select("key_id").execute()).map((r) => r.key_id);
  const ids = await idsOf(opened);
  const beforeIds = beforeDir ? await idsOf(beforeOpened) : ids;
  console.log(`${dialect}: ${ids.length.toLocaleString("en")} keys${beforeDir ? ` (before: ${beforeIds.length.toLocaleString("en")} on ${beforeDir})` : ""}; ${loads.toLocaleString("en")} random loads per variant and round, ${rounds} rounds`);
  // Not both in one run: with the covering index present, SQLite would read the narrow statement from it.
  const layouts = values.layouts && dialect === "sqlite" ? layoutVariants(path.join(dataDir, "sigil.db"), ids) : undefined;
  const variants = layouts ? layouts.variants : kyselyVariants(opened, ids, { db: beforeOpened.db, ids: beforeIds, where: beforeDir ? `, on ${beforeDir}` : "" });
  const results = new Map<string, Array<{ cpuUs: number; wallUs: number; dbCpuUs: number }>>(variants.map((v) => [v.name, []]));
  // Warm-up: the JIT, and the database's own caches, for every variant.
  for (const v of variants) await time(v, draw(v.ids, Math.min(2000, loads), 1));
  for (let round = 0; round < rounds; round++) {
    // Fresh keys each round (the same draw for every variant of a database), variants in a rotating order.
    for (let i = 0; i < variants.length; i++) {
      const v = variants[(i + round) % variants.length]!;
      results.get(v.name)!.push(await time(v, draw(v.ids, loads, 0x5eed + round)));
    }
  }
  console.log(`\n| variant | µs CPU per load${postgres ? " (Node + PostgreSQL)" : ""} | µs wall per load | what |\n| --- | --- | --- | --- |`);
  for (const v of variants) {
    const r = results.get(v.name)!;
    const cpu = median(r.map((x) => x.cpuUs));
    const db = median(r.map((x) => x.dbCpuUs));
    const cpuText = postgres ? `${(cpu + db).toFixed(1)} (${cpu.toFixed(1)} + ${db.toFixed(1)})` : cpu.toFixed(1);
    console.log(`| ${v.name} | ${cpuText} | ${median(r.map((x) => x.wallUs)).toFixed(1)} | ${v.what} |`);
  }
  layouts?.close();
  if (beforeOpened !== opened) await beforeOpened.db.destroy();
  await opened.db.destroy();
}

try {
  await main();
} finally {
  postgres?.destroy();
  rmSync(scratch, { recursive: true, force: true });
}
