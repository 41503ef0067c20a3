import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { migrateTo, migrateToLatest } from "../../src/store/migrations.js";
import { openDatabase } from "../../src/store/open-database.js";
import { AuditAction } from "../../clients/typescript/src/gen/sigil/v1/audit_pb.js";
import { errorOf } from "../support/call-outcome.js";
import { createTestDatabase, testDialect } from "../support/postgres.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

describe(`IssueKey request ids are scoped to the calling key (${testDialect()})`, () => {
  let server: TestServer;
  let first: SigilClient;
  let second: SigilClient;
  let secondKeyId: string;
  before(async () => {
    server = await startTestServer();
    first = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    const other = await first.issueKey({ name: "second admin", owner: "ops", scopes: ["sigil:admin"] });
    secondKeyId = other.key!.keyId;
    second = createSigilClient({ baseUrl: server.grpcUrl, adminKey: other.secret });
  });
  after(() => server.close());

  it("gives another admin using the same request_id its own key, never the first admin's secret", async () => {
    const req = { name: "deploy", owner: "ci:deploy", scopes: ["deploy"], requestId: "shared-id" };
    const mine = await first.issueKey(req);
    const theirs = await second.issueKey(req);
    assert.notEqual(theirs.key!.keyId, mine.key!.keyId);
    assert.notEqual(theirs.secret, mine.secret);
    // Each admin's retry replays its own key.
    assert.equal((await first.issueKey(req)).secret, mine.secret);
    assert.equal((await second.issueKey(req)).secret, theirs.secret);
    // And each id still refuses a different request of the same admin.
    assert.equal((await errorOf(second.issueKey({ ...req, scopes: ["other"] }))).code, Code.AlreadyExists);
    const err = await errorOf(second.issueKey({ ...req, name: "changed" }));
    assert.doesNotMatch(err.message, new RegExp(mine.key!.keyId), "the refusal names no other admin's key");
  });

  it("audits every replay: which key was handed out again, to whom, for which request id", async () => {
    const req = { name: "audited", owner: "svc:a", requestId: "audited-retry" };
    const issued = await second.issueKey(req);
    await second.issueKey(req);
    await second.issueKey(req);
    const replays = await first.listAuditEvents({ action: AuditAction.ISSUE_REPLAY, keyId: issued.key!.keyId });
    assert.equal(replays.events.length, 2);
    for (const e of replays.events) {
      assert.equal(e.actorKeyId, secondKeyId);
      assert.equal(e.details?.request_id, "audited-retry");
      assert.ok(!JSON.stringify(e.details).includes(issued.secret.slice(-20)), "no secret in the event");
    }
    // The issue itself is recorded once, as an issue.
    const issues = await first.listAuditEvents({ action: AuditAction.ISSUE_KEY, keyId: issued.key!.keyId });
    assert.equal(issues.events.length, 1);
  });
});

describe(`migration 0006_issue_requests_actor (${testDialect()})`, () => {
  it("keeps live records, each under the admin that issued its key (from the audit trail)", async () => {
    const database = testDialect() === "postgres" ? await createTestDatabase() : undefined;
    const { db, dialect } = openDatabase(database?.url ?? "sqlite::memory:");
    try {
      await migrateTo(db, dialect, "0005_signing_key_feed");
      await db.insertInto("audit_events").values({ time: 1, action: "issue", key_id: "KEYKEYKEYKEYKEY1", actor_key_id: "ADMINADMINADMIN1", details: "{}" }).execute();
      await (db as any)
        .insertInto("issue_requests")
        .values([
          { request_id: "old-1", fingerprint: "f", key_id: "KEYKEYKEYKEYKEY1", sealed_secret: "s", expire_time: 10 },
          { request_id: "old-2", fingerprint: "f", key_id: "UNAUDITEDKEYKEY2", sealed_secret: "s", expire_time: 10 },
        ])
        .execute();
      await migrateToLatest(db, dialect);
      const rows = await db.selectFrom("issue_requests").select(["actor_key_id", "request_id", "key_id"]).orderBy("request_id").execute();
      assert.deepEqual(rows, [
        { actor_key_id: "ADMINADMINADMIN1", request_id: "old-1", key_id: "KEYKEYKEYKEYKEY1" },
        { actor_key_id: "", request_id: "old-2", key_id: "UNAUDITEDKEYKEY2" },
      ]);
      // The same id under two actors is now allowed.
      await db.insertInto("issue_requests").values({ actor_key_id: "ADMINADMINADMIN2", request_id: "old-1", fingerprint: "f", key_id: "K3", sealed_secret: "s", expire_time: 10 }).execute();
      // And back down: one record per request id again (the earlier-expiring one of a shared id).
      await db.insertInto("issue_requests").values({ actor_key_id: "ADMINADMINADMIN3", request_id: "old-2", fingerprint: "f", key_id: "K4", sealed_secret: "s", expire_time: 5 }).execute();
      await migrateTo(db, dialect, "0005_signing_key_feed");
      const down = await (db as any).selectFrom("issue_requests").select(["request_id", "key_id"]).orderBy("request_id").execute();
      assert.deepEqual(down, [
        { request_id: "old-1", key_id: "KEYKEYKEYKEYKEY1" },
        { request_id: "old-2", key_id: "K4" },
      ]);
    } finally {
      await db.destroy();
      await database?.drop();
    }
  });
});
