import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import pino from "pino";
import { BootstrapAdminReminder } from "../../src/app/bootstrap-admin-reminder.js";
import { migrateToLatest } from "../../src/store/migrations.js";
import { openDatabase } from "../../src/store/open-database.js";
import type { NewKeyRow } from "../../src/store/tables/keys-table.js";

const DAY_MS = 86_400_000;

function keyRow(keyId: string, owner: string, scopes: string[], createTime: number, extra: Partial<NewKeyRow> = {}): NewKeyRow {
  return {
    key_id: keyId,
    prefix: "sgl",
    name: keyId,
    owner,
    scopes: JSON.stringify(scopes),
    metadata: "{}",
    secret_hash: "x",
    hash_version: 1,
    create_time: createTime,
    update_time: createTime,
    expire_time: null,
    revoke_time: null,
    revoke_reason: null,
    enabled: 1,
    ...extra,
  };
}

describe("BootstrapAdminReminder", () => {
  it("warns about once per interval while the old bootstrap key is the only working admin key", async () => {
    const { db, dialect } = openDatabase("sqlite::memory:");
    await migrateToLatest(db, dialect);
    let now = 1_800_000_000_000;
    const lines: string[] = [];
    const log = pino({ level: "info" }, new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(chunk.toString()), cb()) }));
    await db.insertInto("keys").values(keyRow("BOOTSTRAPKEY0000", "sigil:bootstrap", ["sigil:admin"], now)).execute();
    const reminder = new BootstrapAdminReminder(db, { dataDir: "/var/lib/sigil", now: () => now, log, intervalMs: 20 });

    assert.equal(await reminder.check(), false, "a key younger than a day");
    now += DAY_MS + 1;
    // Keys that are not admin keys, or no longer work, do not count.
    await db
      .insertInto("keys")
      .values([
        keyRow("READONLYKEY00000", "svc:a", ["read", "sigil:verify"], now),
        keyRow("REVOKEDADMIN0000", "svc:b", ["sigil:admin"], now, { revoke_time: now }),
        keyRow("DISABLEDADMIN000", "svc:c", ["sigil:admin"], now, { enabled: 0 }),
        keyRow("EXPIREDADMIN0000", "svc:d", ["sigil:admin"], now - 2, { expire_time: now - 1 }),
        keyRow("LOOKALIKEADMIN00", "svc:e", ["sigil:admins"], now),
      ])
      .execute();
    assert.equal(await reminder.check(), true);
    const warning = JSON.parse(lines.at(-1)!) as { keyId: string; file: string; ageDays: number };
    assert.deepEqual([warning.keyId, warning.file, warning.ageDays], ["BOOTSTRAPKEY0000", "/var/lib/sigil/admin.key", 1]);

    // While running, on its timer.
    lines.length = 0;
    await reminder.start();
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(lines.length >= 2, `warned at start and on the timer (${lines.length})`);

    await db.insertInto("keys").values(keyRow("REPLACEMENT00000", "team:ops", ["read", "sigil:admin"], now)).execute();
    assert.equal(await reminder.check(), false, "another working admin key exists");
    await db.deleteFrom("keys").where("key_id", "=", "REPLACEMENT00000").execute();
    await db.updateTable("keys").set({ revoke_time: now }).where("key_id", "=", "BOOTSTRAPKEY0000").execute();
    assert.equal(await reminder.check(), false, "the bootstrap key is revoked");
    await reminder.stop();
    await db.destroy();
  });
});
