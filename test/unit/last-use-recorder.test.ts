import assert from "node:assert/strict";
import { describe, it } from "node:test";
import pg from "pg";
import pino from "pino";
import { createTestDatabase, testDialect } from "../support/postgres.js";
import { migrateToLatest } from "../../src/store/migrations.js";
import { openDatabase } from "../../src/store/open-database.js";
import { lastUseWriter } from "../../src/store/last-use-repository.js";
import { LastUseRecorder } from "../../src/usage/last-use-recorder.js";

describe("LastUseRecorder", () => {
  it("writes the latest use of many keys in batches and never moves a stored time backwards", async () => {
    const { db, dialect } = openDatabase("sqlite::memory:");
    await migrateToLatest(db, dialect);
    const now = Date.now();
    const ids = Array.from({ length: 250 }, (_, i) => `K${String(i).padStart(15, "0")}`);
    await db
      .insertInto("keys")
      .values(ids.map((key_id) => ({ key_id, prefix: "sgl", name: "n", owner: "o", scopes: "[]", metadata: "{}", secret_hash: "aA==", hash_version: 1, create_time: now, update_time: now }) as never))
      .execute();
    // A later use already stored by another process for the first key.
    await db.updateTable("keys").set({ last_use_time: 9_000_000_000_000 }).where("key_id", "=", ids[0]!).execute();
    const recorder = new LastUseRecorder(lastUseWriter(db, dialect), { intervalMs: 60_000, log: pino({ level: "silent" }) });
    for (const id of ids) recorder.record(id, 5_000_000_000_500);
    recorder.record(ids[1]!, 5_000_000_002_000); // a later use of the same key, same flush: the later one wins
    await recorder.flush();
    const rows = await db.selectFrom("keys").select(["key_id", "last_use_time"]).orderBy("key_id").execute();
    assert.equal(Number(rows[0]!.last_use_time), 9_000_000_000_000, "not moved backwards");
    assert.equal(Number(rows[1]!.last_use_time), 5_000_000_002_000);
    assert.ok(rows.slice(2).every((r) => Number(r.last_use_time) === 5_000_000_000_000), "every other key written, in whole seconds");
    await recorder.stop();
    await db.destroy();
  });
});

describe("LastUseRecorder on PostgreSQL", { skip: testDialect() !== "postgres" && "runs in the PostgreSQL pass" }, () => {
  it("never waits for a row another transaction holds (an admin call's FOR SHARE): it writes the free rows and the busy one at a later flush", async () => {
    const database = await createTestDatabase();
    const { db, dialect } = openDatabase(database.url);
    const holder = new pg.Client({ connectionString: database.url });
    try {
      await migrateToLatest(db, dialect);
      const now = Date.now();
      const ids = ["KBUSY00000000000", "KFREE00000000000", "KFREE00000000001"];
      await db
        .insertInto("keys")
        .values(ids.map((key_id) => ({ key_id, prefix: "sgl", name: "n", owner: "o", scopes: "[]", metadata: "{}", secret_hash: "aA==", hash_version: 1, create_time: now, update_time: now }) as never))
        .execute();
      await holder.connect();
      await holder.query("BEGIN");
      await holder.query("SELECT key_id FROM keys WHERE key_id = $1 FOR SHARE", [ids[0]]);
      const recorder = new LastUseRecorder(lastUseWriter(db, dialect), { intervalMs: 60_000, log: pino({ level: "silent" }) });
      for (const id of ids) recorder.record(id, 5_000_000_000_000);
      // A flush that waited for the held row would wait for the holder (here: forever, in production
      // up to the query timeout) while holding the rows it had already updated.
      const flushed = await Promise.race([recorder.flush().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 10_000).unref())]);
      assert.equal(flushed, true, "the flush finished while the row was held");
      const lastUse = async () => Object.fromEntries((await db.selectFrom("keys").select(["key_id", "last_use_time"]).execute()).map((r) => [r.key_id, r.last_use_time === null ? null : Number(r.last_use_time)]));
      assert.deepEqual(await lastUse(), { [ids[0]!]: null, [ids[1]!]: 5_000_000_000_000, [ids[2]!]: 5_000_000_000_000 });
      assert.equal(recorder.pending(ids[0]!), 5_000_000_000_000, "the busy key waits for the next flush");
      // Nothing of the flush still holds a row: another transaction changes a written key at once.
      const update = await Promise.race([db.updateTable("keys").set({ name: "changed" }).where("key_id", "=", ids[1]!).execute().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 5_000).unref())]);
      assert.equal(update, true);
      await holder.query("COMMIT");
      await recorder.flush();
      assert.equal((await lastUse())[ids[0]!], 5_000_000_000_000, "written once its row was free");
      assert.equal(recorder.pending(ids[0]!), undefined);
      await recorder.stop();
    } finally {
      await holder.end().catch(() => {});
      await db.destroy();
      await database.drop();
    }
  });
});
