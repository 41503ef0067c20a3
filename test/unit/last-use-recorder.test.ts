import assert from "node:assert/strict";
import { describe, it } from "node:test";
import pino from "pino";
import { migrateToLatest } from "../../src/store/migrations.js";
import { openDatabase } from "../../src/store/open-database.js";
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
    const recorder = new LastUseRecorder(db, { intervalMs: 60_000, log: pino({ level: "silent" }) });
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
