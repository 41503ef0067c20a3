import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import BetterSqlite3 from "better-sqlite3";
import { migrateToLatest } from "../../src/store/migrations.js";
import { openDatabase } from "../../src/store/open-database.js";

describe("SQLite transactions begin IMMEDIATE", () => {
  it("no other process commits between a transaction's read and its write", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sigil-immediate-"));
    const file = path.join(dir, "sigil.db");
    const { db, dialect } = openDatabase(`sqlite:${file}`);
    await migrateToLatest(db, dialect);
    // Another process on the same file (its own connection), not willing to wait for the lock.
    const other = new BetterSqlite3(file);
    other.pragma("busy_timeout = 0");
    const append = other.prepare("insert into change_feed (key_id, action, reason, actor_key_id, time) values ('OTHERPROCESSKEY1', 'revoke', null, null, 1)");
    try {
      await db.transaction().execute(async (tx) => {
        await tx.selectFrom("keys").select("key_id").execute(); // the read a check would make
        // Under a deferred BEGIN this write would commit here, and our write below would then fail
        // with SQLITE_BUSY_SNAPSHOT; with IMMEDIATE we hold the write lock, so the other one waits.
        assert.throws(() => append.run(), (err: { code?: string }) => err.code === "SQLITE_BUSY");
        await tx.insertInto("change_feed").values({ key_id: "THISPROCESSKEY01", action: "update", reason: null, actor_key_id: null, time: 2 }).execute();
      });
      append.run(); // once we committed, it goes through
      const rows = await db.selectFrom("change_feed").select("key_id").orderBy("seq").execute();
      assert.deepEqual(rows.map((r) => r.key_id), ["THISPROCESSKEY01", "OTHERPROCESSKEY1"]);
    } finally {
      other.close();
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
