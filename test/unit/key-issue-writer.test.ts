import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { migrateToLatest } from "../../src/store/migrations.js";
import { openDatabase } from "../../src/store/open-database.js";
import { KeyIssueWriter, type KeyIssueWrite } from "../../src/store/key-issue-writer.js";

function write(keyId: string, requestId?: string, actor?: string): KeyIssueWrite<string> {
  const now = Date.now();
  return {
    key: {
      key_id: keyId, prefix: "sgl", name: "n", owner: "o", scopes: "[]", metadata: "{}", secret_hash: "aGFzaA==", hash_version: 1,
      create_time: now, update_time: now, expire_time: null, revoke_time: null, revoke_reason: null,
    } as KeyIssueWrite<string>["key"],
    change: { key_id: keyId, action: "issue", reason: null, actor_key_id: null, time: now },
    audit: { time: now, action: "issue", keyId, actorKeyId: null, details: {} },
    actor,
    issueRequest: requestId ? { actor_key_id: "", request_id: requestId, fingerprint: "f", key_id: keyId, sealed_secret: "s", expire_time: now + 1000 } : undefined,
  };
}

describe("KeyIssueWriter (group commit)", () => {
  it("commits concurrent writes together and fails only the write at fault", async () => {
    const { db, dialect } = openDatabase("sqlite::memory:");
    await migrateToLatest(db, dialect);
    const writer = new KeyIssueWriter<string>(db, { checkActors: async () => new Map() });
    await writer.write(write("AAAAAAAAAAAAAAAA", "r1"));
    const results = await Promise.allSettled([
      writer.write(write("BBBBBBBBBBBBBBBB")),
      writer.write(write("CCCCCCCCCCCCCCCC", "r1")), // reused request id: unique violation
      writer.write(write("DDDDDDDDDDDDDDDD")),
    ]);
    assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
    const keys = await db.selectFrom("keys").select("key_id").orderBy("key_id").execute();
    assert.deepEqual(keys.map((k) => k.key_id), ["AAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBB", "DDDDDDDDDDDDDDDD"], "no half-written key");
    const feed = await db.selectFrom("change_feed").select("key_id").orderBy("seq").execute();
    assert.deepEqual(feed.map((f) => f.key_id), ["AAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBB", "DDDDDDDDDDDDDDDD"]);
    await db.destroy();
  });

  it("checks each distinct actor once, in the batch's transaction, and fails only the writes of a refused one", async () => {
    const { db, dialect } = openDatabase("sqlite::memory:");
    await migrateToLatest(db, dialect);
    const checked: string[][] = [];
    const writer = new KeyIssueWriter<string>(db, {
      checkActors: async (tx, actors) => {
        checked.push([...actors]);
        // Runs inside the batch's transaction: it sees the batch's own connection.
        await tx.selectFrom("keys").select("key_id").execute();
        return new Map(actors.filter((a) => a === "revoked-admin").map((a) => [a, new Error(`${a} may not write`)]));
      },
    });
    const results = await Promise.allSettled([
      writer.write(write("AAAAAAAAAAAAAAAA", undefined, "admin")),
      writer.write(write("BBBBBBBBBBBBBBBB", undefined, "revoked-admin")),
      writer.write(write("CCCCCCCCCCCCCCCC", undefined, "admin")),
      writer.write(write("DDDDDDDDDDDDDDDD")), // the server itself: not checked
    ]);
    assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled", "fulfilled"]);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /revoked-admin may not write/);
    assert.deepEqual(checked, [["admin", "revoked-admin"]], "one check per distinct actor, one batch");
    const keys = await db.selectFrom("keys").select("key_id").orderBy("key_id").execute();
    assert.deepEqual(keys.map((k) => k.key_id), ["AAAAAAAAAAAAAAAA", "CCCCCCCCCCCCCCCC", "DDDDDDDDDDDDDDDD"]);
    const audit = await db.selectFrom("audit_events").select("key_id").orderBy("seq").execute();
    assert.deepEqual(audit.map((a) => a.key_id), ["AAAAAAAAAAAAAAAA", "CCCCCCCCCCCCCCCC", "DDDDDDDDDDDDDDDD"], "nothing of the refused write");
    await db.destroy();
  });
});
