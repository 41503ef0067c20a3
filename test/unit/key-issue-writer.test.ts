import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { migrateToLatest } from "../../src/store/migrations.js";
import { openDatabase } from "../../src/store/open-database.js";
import { KeyIssueWriter, type KeyIssueWrite } from "../../src/store/key-issue-writer.js";

function write(keyId: string, requestId?: string): KeyIssueWrite {
  const now = Date.now();
  return {
    key: {
      key_id: keyId, prefix: "sgl", name: "n", owner: "o", scopes: "[]", metadata: "{}", secret_hash: "aGFzaA==", hash_version: 1,
      create_time: now, update_time: now, expire_time: null, revoke_time: null, revoke_reason: null,
    } as KeyIssueWrite["key"],
    change: { key_id: keyId, action: "issue", reason: null, actor_key_id: null, time: now },
    audit: { time: now, action: "issue", keyId, actorKeyId: null, details: {} },
    issueRequest: requestId ? { request_id: requestId, fingerprint: "f", key_id: keyId, sealed_secret: "s", expire_time: now + 1000 } : undefined,
  };
}

describe("KeyIssueWriter (group commit)", () => {
  it("commits concurrent writes together and fails only the write at fault", async () => {
    const { db, dialect } = openDatabase("sqlite::memory:");
    await migrateToLatest(db, dialect);
    const writer = new KeyIssueWriter(db);
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
});
