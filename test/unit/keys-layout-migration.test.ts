import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { sql, type Kysely } from "kysely";
import { findKey } from "../../src/store/key-repository.js";
import { migrateTo, migrateToLatest } from "../../src/store/migrations.js";
import { openDatabase } from "../../src/store/open-database.js";
import type { Database } from "../../src/store/database.js";
import type { NewKeyRow } from "../../src/store/tables/keys-table.js";
import { testDialect } from "../support/postgres.js";

const keyRow = (keyId: string): NewKeyRow => ({
  key_id: keyId,
  prefix: "sgl",
  name: keyId,
  owner: "svc:layout",
  scopes: JSON.stringify(["read"]),
  metadata: "{}",
  secret_hash: `hash-of-${keyId}`,
  hash_version: 1,
  create_time: 1_000,
  update_time: 1_000,
  expire_time: null,
  revoke_time: null,
  revoke_reason: null,
  enabled: 1,
});

async function keysLayout(db: Kysely<Database>): Promise<{ withoutRowid: boolean; indexes: string[] }> {
  const table = (await sql<{ sql: string }>`select sql from sqlite_master where type = 'table' and name = 'keys'`.execute(db)).rows[0]!;
  const indexes = (await sql<{ name: string }>`select name from sqlite_master where type = 'index' and tbl_name = 'keys' and sql is not null order by name`.execute(db)).rows;
  return { withoutRowid: /without\s+rowid\s*$/i.test(table.sql), indexes: indexes.map((i) => i.name) };
}

const rootPage = async (db: Kysely<Database>): Promise<number> =>
  (await sql<{ rootpage: number }>`select rootpage from sqlite_master where type = 'table' and name = 'keys'`.execute(db)).rows[0]!.rootpage;

// PostgreSQL's tables are heaps whatever 0011 and 0012 say: both are no-ops there.
describe("migration 0012_keys_rowid_again (SQLite)", { skip: testDialect() !== "sqlite" }, () => {
  it("turns keys back into a rowid table with its rows and indexes, and can be undone", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sigil-keys-layout-"));
    const { db, dialect } = openDatabase(`sqlite:${path.join(dir, "sigil.db")}`);
    try {
      // The layout a database that ran the original 0011 has (0012's down makes it again).
      await migrateToLatest(db, dialect);
      await migrateTo(db, dialect, "0011_keys_without_rowid");
      const before = await keysLayout(db);
      assert.equal(before.withoutRowid, true);
      const ids = ["ZZZLAYOUTKEY0003", "AAALAYOUTKEY0001", "MMMLAYOUTKEY0002"];
      await db.insertInto("keys").values(ids.map(keyRow)).execute();

      assert.ok((await migrateToLatest(db, dialect)).includes("0012_keys_rowid_again"));
      const after = await keysLayout(db);
      assert.equal(after.withoutRowid, false);
      assert.deepEqual(after.indexes, before.indexes);
      for (const id of ids) assert.equal((await findKey(db, id))?.secret_hash, `hash-of-${id}`);
      // New rows go in as before.
      await db.insertInto("keys").values(keyRow("NEWLAYOUTKEY0004")).execute();
      assert.equal((await findKey(db, "NEWLAYOUTKEY0004"))?.owner, "svc:layout");

      await migrateTo(db, dialect, "0011_keys_without_rowid");
      assert.equal((await keysLayout(db)).withoutRowid, true);
      assert.equal((await db.selectFrom("keys").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow()).n, 4);
    } finally {
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("leaves a database that never ran the original 0011 as it is: keys is not copied at all", async () => {
    const { db, dialect } = openDatabase("sqlite::memory:");
    try {
      await migrateTo(db, dialect, "0010_tenant_feed");
      await db.insertInto("keys").values(keyRow("OLDLAYOUTKEY0001")).execute();
      const page = await rootPage(db);
      const applied = await migrateToLatest(db, dialect);
      assert.deepEqual(applied.slice(0, 2), ["0011_keys_without_rowid", "0012_keys_rowid_again"]);
      assert.equal(await rootPage(db), page, "a rebuild would have made a new table");
      assert.equal((await keysLayout(db)).withoutRowid, false);
      assert.equal((await findKey(db, "OLDLAYOUTKEY0001"))?.owner, "svc:layout");
    } finally {
      await db.destroy();
    }
  });
});
