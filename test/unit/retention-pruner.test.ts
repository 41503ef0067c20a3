import assert from "node:assert/strict";
import { describe, it } from "node:test";
import pino from "pino";
import { RetentionPruner } from "../../src/app/retention-pruner.js";
import { migrateToLatest } from "../../src/store/migrations.js";
import { openDatabase } from "../../src/store/open-database.js";

describe("RetentionPruner", () => {
  it("drops change-feed rows past the retention and idempotency records past their window, nothing else", async () => {
    const { db, dialect } = openDatabase("sqlite::memory:");
    await migrateToLatest(db, dialect);
    const now = 1_800_000_000_000;
    const day = 86_400_000;
    await db
      .insertInto("change_feed")
      .values([
        { key_id: "old", action: "revoke", reason: null, actor_key_id: null, time: now - 8 * day },
        { key_id: "new", action: "revoke", reason: null, actor_key_id: null, time: now - day },
      ])
      .execute();
    await db
      .insertInto("issue_requests")
      .values([
        { actor_key_id: "a1", request_id: "expired", fingerprint: "f", key_id: "k1", sealed_secret: "s", expire_time: now - 1 },
        { actor_key_id: "a1", request_id: "live", fingerprint: "f", key_id: "k2", sealed_secret: "s", expire_time: now + 1000 },
        // Request ids are scoped to their actor: another admin's live record of an expired id stays.
        { actor_key_id: "a2", request_id: "expired", fingerprint: "f", key_id: "k3", sealed_secret: "s", expire_time: now + 1000 },
      ])
      .execute();
    const pruner = new RetentionPruner(db, { retentionMs: 7 * day, now: () => now, log: pino({ level: "silent" }) });
    assert.equal(await pruner.prune(), 2);
    assert.deepEqual((await db.selectFrom("change_feed").select("key_id").execute()).map((r) => r.key_id), ["new"]);
    const left = await db.selectFrom("issue_requests").select(["actor_key_id", "request_id"]).orderBy("actor_key_id").orderBy("request_id").execute();
    assert.deepEqual(left.map((r) => `${r.actor_key_id}/${r.request_id}`), ["a1/live", "a2/expired"]);
    await pruner.stop();
    await db.destroy();
  });

  it("drops usage-analytics minutes that ended before the usage retention, in batches, and keeps the rest", async () => {
    const { db, dialect } = openDatabase("sqlite::memory:");
    await migrateToLatest(db, dialect);
    const minute = 60_000;
    const now = 1_800_000_000_000;
    const retentionMs = 30 * 86_400_000;
    // 12,000 old rows (more than a batch), the minute that ends exactly at the cutoff, and one still inside.
    const old = Array.from({ length: 12_000 }, (_, i) => ({ key_id: `K${i % 100}`, start_time: now - retentionMs - (2 + Math.floor(i / 100)) * minute, reason: 1, count: 1 }));
    for (let i = 0; i < old.length; i += 1000) await db.insertInto("key_usage").values(old.slice(i, i + 1000)).execute();
    await db
      .insertInto("key_usage")
      .values([
        { key_id: "edge", start_time: now - retentionMs - minute, reason: 1, count: 1 },
        { key_id: "kept", start_time: now - retentionMs, reason: 1, count: 1 },
      ])
      .execute();
    const pruner = new RetentionPruner(db, { retentionMs: 7 * 86_400_000, usageRetentionMs: retentionMs, now: () => now, log: pino({ level: "silent" }) });
    assert.equal(await pruner.prune(), 12_001);
    assert.deepEqual((await db.selectFrom("key_usage").select("key_id").execute()).map((r) => r.key_id), ["kept"]);
    await pruner.stop();
    await db.destroy();
  });
});
