import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import pino from "pino";
import { sql } from "kysely";
import { migrateToLatest } from "../../src/store/migrations.js";
import { openDatabase } from "../../src/store/open-database.js";
import { readKeyUsage } from "../../src/store/usage-repository.js";
import { UNATTRIBUTED, UsageCounter } from "../../src/usage/usage-counter.js";
import { VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";

const MINUTE = 60_000;
const T = 1_800_000_000_000; // a whole minute
const silent = pino({ level: "silent" });

async function freshDb() {
  const { db, dialect } = openDatabase("sqlite::memory:");
  await migrateToLatest(db, dialect);
  return db;
}

const rowsOf = (db: Awaited<ReturnType<typeof freshDb>>) =>
  db.selectFrom("key_usage").select(["key_id", "start_time", "reason", "count"]).orderBy("key_id").orderBy("start_time").orderBy("reason").execute();

describe("UsageCounter", () => {
  it("counts per key, minute and outcome, and adds to what is stored (another process's counts)", async () => {
    const db = await freshDb();
    const a = new UsageCounter(db, { intervalMs: 60_000, log: silent });
    const b = new UsageCounter(db, { intervalMs: 60_000, log: silent });
    for (let i = 0; i < 3; i++) a.count("K1", VerifyReason.VALID, T + i * 1000);
    a.count("K1", VerifyReason.REVOKED, T + 59_999);
    a.count("K1", VerifyReason.VALID, T + MINUTE); // the next minute
    a.count(UNATTRIBUTED, VerifyReason.MALFORMED, T);
    b.count("K1", VerifyReason.VALID, T + 5);
    assert.deepEqual(await rowsOf(db), [], "nothing written before a flush");
    await Promise.all([a.flush(), b.flush()]);
    b.count("K1", VerifyReason.VALID, T + 6);
    await b.flush();
    await a.flush(); // nothing new: writes nothing
    assert.deepEqual(await rowsOf(db), [
      { key_id: "", start_time: T, reason: VerifyReason.MALFORMED, count: 1 },
      { key_id: "K1", start_time: T, reason: VerifyReason.VALID, count: 5 },
      { key_id: "K1", start_time: T, reason: VerifyReason.REVOKED, count: 1 },
      { key_id: "K1", start_time: T + MINUTE, reason: VerifyReason.VALID, count: 1 },
    ]);
    // Summed into wider buckets by the database.
    const hourly = await readKeyUsage(db, { keyId: "K1", startTime: T, endTime: T + 60 * MINUTE, bucketMs: 60 * MINUTE });
    assert.deepEqual(hourly.sort((x, y) => x.reason - y.reason), [
      { bucket: 0, reason: VerifyReason.VALID, count: 6 },
      { bucket: 0, reason: VerifyReason.REVOKED, count: 1 },
    ]);
    await Promise.all([a.stop(), b.stop()]);
    await db.destroy();
  });

  it("writes many keys in chunks, flushes early at its bound, and drops (and reports) beyond twice that", async () => {
    const db = await freshDb();
    const lines: string[] = [];
    const log = pino({ level: "warn" }, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }));
    const counter = new UsageCounter(db, { intervalMs: 60_000, log, flushAt: 250 });
    for (let i = 0; i < 249; i++) counter.count(`K${i}`, VerifyReason.VALID, T);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal((await rowsOf(db)).length, 0, "below the bound: no flush yet");
    counter.count("K249", VerifyReason.VALID, T); // the bound: an early flush of 250 rows, 100 per statement
    await counter.flush();
    assert.equal((await rowsOf(db)).length, 250);

    // While the database refuses writes, counts are kept (bounded) and written once it is back.
    await sql`ALTER TABLE key_usage RENAME TO key_usage_away`.execute(db);
    for (let i = 0; i < 600; i++) counter.count(`L${i}`, VerifyReason.NOT_FOUND, T);
    counter.count("L0", VerifyReason.NOT_FOUND, T); // an existing entry still counts
    await counter.flush();
    assert.ok(lines.some((l) => /usage analytics flush failed/.test(l)));
    await sql`ALTER TABLE key_usage_away RENAME TO key_usage`.execute(db);
    await counter.flush();
    const rows = await db.selectFrom("key_usage").select(["key_id", "count"]).where("key_id", "like", "L%").execute();
    assert.equal(rows.length, 500, "at most twice the bound of entries held");
    assert.equal(rows.find((r) => r.key_id === "L0")?.count, 2);
    assert.ok(lines.some((l) => /"dropped":100\b/.test(l) && /verifications not counted/.test(l)), lines.join(""));
    await counter.stop();
    await db.destroy();
  });

  it("stop() writes what is left", async () => {
    const db = await freshDb();
    const counter = new UsageCounter(db, { intervalMs: 60_000, log: silent });
    counter.start();
    counter.count("K", VerifyReason.VALID, T);
    await counter.stop();
    assert.deepEqual(await rowsOf(db), [{ key_id: "K", start_time: T, reason: VerifyReason.VALID, count: 1 }]);
    await db.destroy();
  });

  it("names the tenant the verification knew, and reads the key's from `keys` only for a key counted without one", async () => {
    const db = await freshDb();
    const now = Date.now();
    await db.insertInto("tenants").values({ tenant_id: "acme", display_name: "acme", create_time: now, update_time: now, delete_time: null }).execute();
    // A stored key of acme; the counter is told its tenant for one entry and not for another.
    await sql`insert into keys (key_id, prefix, name, owner, scopes, metadata, secret_hash, hash_version, create_time, update_time, tenant_id)
              values ('KA', 'sgl', 'a', 'svc:a', '[]', '{}', 'h', 1, 0, 0, 'acme')`.execute(db);
    const counter = new UsageCounter(db, { intervalMs: 60_000, log: silent });
    counter.count("KA", VerifyReason.VALID, T, "acme");
    counter.count("KA", VerifyReason.NOT_FOUND, T + MINUTE); // a wrong secret: the record's tenant was not read
    counter.count("KB", VerifyReason.VALID, T, "globex"); // as told, though no row says so
    counter.count(UNATTRIBUTED, VerifyReason.MALFORMED, T);
    await counter.flush();
    const tenants = await db.selectFrom("key_usage").select(["key_id", "start_time", "tenant_id"]).orderBy("key_id").orderBy("start_time").execute();
    assert.deepEqual(tenants, [
      { key_id: "", start_time: T, tenant_id: "default" },
      { key_id: "KA", start_time: T, tenant_id: "acme" },
      { key_id: "KA", start_time: T + MINUTE, tenant_id: "acme" },
      { key_id: "KB", start_time: T, tenant_id: "globex" },
    ]);
    await db.destroy();
  });
});
