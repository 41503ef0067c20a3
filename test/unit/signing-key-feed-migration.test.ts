import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { sql } from "kysely";
import { appendChange, latestChangeSeq } from "../../src/store/change-feed-repository.js";
import { migrateTo, migrateToLatest } from "../../src/store/migrations.js";
import { openDatabase } from "../../src/store/open-database.js";
import { isUniqueViolation } from "../../src/store/unique-violation.js";
import { createTestDatabase, testDialect } from "../support/postgres.js";

const signingKey = (kid: string, createTime: number, retireTime: number | null) => ({
  kid,
  alg: "EdDSA",
  public_jwk: "{}",
  sealed_private_key: "sealed",
  create_time: createTime,
  retire_time: retireTime,
});

describe(`migration 0005_signing_key_feed (${testDialect()})`, () => {
  it("keeps one active key, lets feed rows name a signing key, and never reuses a pruned seq", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sigil-migration-"));
    const pgDatabase = testDialect() === "postgres" ? await createTestDatabase() : undefined;
    const { db, dialect } = openDatabase(pgDatabase?.url ?? `sqlite:${path.join(dir, "sigil.db")}`);
    try {
      await migrateTo(db, dialect, "0004_key_lifecycle_usage_audit");
      // What two processes starting at once could leave: two active keys.
      await sql`insert into signing_keys (kid, alg, public_jwk, sealed_private_key, create_time, retire_time) values
        ('old', 'EdDSA', '{}', 'sealed', 1000, null), ('newer', 'EdDSA', '{}', 'sealed', 2000, null), ('retired', 'EdDSA', '{}', 'sealed', 500, 900)`.execute(db);
      // Three changes, all pruned since: the feed is empty but seq 3 was handed out.
      for (const key of ["a", "b", "c"]) {
        await sql`insert into change_feed (key_id, action, reason, actor_key_id, time) values (${key}, 'issue', null, null, 1)`.execute(db);
      }
      await sql`delete from change_feed`.execute(db);
      await sql`update change_feed_horizon set pruned_through = 3`.execute(db);

      assert.deepEqual((await migrateToLatest(db, dialect)).slice(0, 1), ["0005_signing_key_feed"]); // then any later ones

      const keys = await db.selectFrom("signing_keys").select(["kid", "retire_time", "revoke_time"]).orderBy("create_time").execute();
      assert.deepEqual(keys.map((k) => [k.kid, k.retire_time === null, k.revoke_time]), [["retired", false, null], ["old", false, null], ["newer", true, null]]);
      await assert.rejects(db.insertInto("signing_keys").values({ ...signingKey("second", 3000, null), revoke_time: null }).execute(), (err) => isUniqueViolation(err));
      await db.insertInto("signing_keys").values({ ...signingKey("another-retired", 3000, 3500), revoke_time: null }).execute();

      // The sequence continues after the pruned rows.
      assert.equal(await latestChangeSeq(db), 3);
      assert.equal(await appendChange(db, { key_id: "d", action: "issue", reason: null, actor_key_id: null, time: 2 }), 4);
      assert.equal(await appendChange(db, { key_id: null, signing_key_id: "newer", action: "signing_key_add", reason: null, actor_key_id: null, time: 3 }), 5);
      // A row names at most one subject; one naming neither is about its tenant (migration 0010).
      assert.equal(await appendChange(db, { key_id: null, signing_key_id: null, action: "tenant_update", reason: null, actor_key_id: null, time: 4, tenant_id: "t" }), 6);
      await assert.rejects(appendChange(db, { key_id: "e", signing_key_id: "newer", action: "issue", reason: null, actor_key_id: null, time: 4 }), /check|constraint/i);

      // And it can be undone (signing-key rows leave the feed), then applied again.
      await migrateTo(db, dialect, "0004_key_lifecycle_usage_audit");
      const rows = await sql<{ key_id: string }>`select key_id from change_feed order by seq`.execute(db);
      assert.deepEqual(rows.rows.map((r) => r.key_id), ["d"]);
      assert.deepEqual((await migrateToLatest(db, dialect)).slice(0, 1), ["0005_signing_key_feed"]); // then any later ones
      // Past every seq handed out before (PostgreSQL's sequence also skips the values the rejected inserts drew).
      assert.ok((await appendChange(db, { key_id: "f", action: "issue", reason: null, actor_key_id: null, time: 5 })) >= 6);
    } finally {
      await db.destroy();
      await pgDatabase?.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
