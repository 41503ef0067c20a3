import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { KeyStatus } from "../../clients/typescript/src/gen/sigil/v1/key_pb.js";
import { errorOf } from "../support/call-outcome.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

describe("IssueKey, GetKey, ListKeys, RevokeKey", () => {
  let server: TestServer;
  let admin: SigilClient;
  before(async () => {
    server = await startTestServer();
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
  });
  after(() => server.close());

  it("returns the public record and the secret once; GetKey never shows the secret", async () => {
    const r = await admin.issueKey({ name: "billing", owner: "svc:billing", scopes: ["read", "read", "write"], metadata: { team: "payments" } });
    assert.deepEqual(r.key!.scopes, ["read", "write"], "duplicate scopes are dropped");
    assert.equal(r.key!.status, KeyStatus.ACTIVE);
    const got = await admin.getKey({ keyId: r.key!.keyId });
    assert.deepEqual(got.key, r.key);
    assert.ok(!JSON.stringify(got.key, (_k, v) => (typeof v === "bigint" ? String(v) : v)).includes(r.secret.slice(-49)));
  });

  it("is idempotent with a request_id, and refuses the id for another request", async () => {
    const req = { name: "ci deploy", owner: "ci:deploy", scopes: ["deploy"], requestId: "req-42" };
    const first = await admin.issueKey(req);
    const retry = await admin.issueKey(req);
    assert.equal(retry.key!.keyId, first.key!.keyId);
    assert.equal(retry.secret, first.secret);
    const err = await errorOf(admin.issueKey({ ...req, scopes: ["deploy", "admin"] }));
    assert.equal(err.code, Code.AlreadyExists);
    const concurrent = await Promise.all([1, 2, 3, 4].map(() => admin.issueKey({ ...req, requestId: "req-43" })));
    assert.equal(new Set(concurrent.map((c) => c.key!.keyId)).size, 1, "concurrent retries issue one key");
    // After the 24-hour window the id is free again: a new key, not a replay and not an error.
    server.advance(24 * 3_600_000 + 1000);
    try {
      const later = await admin.issueKey(req);
      assert.notEqual(later.key!.keyId, first.key!.keyId);
    } finally {
      server.advance(-(24 * 3_600_000 + 1000));
    }
  });

  it("expires keys by TTL and by absolute time", async () => {
    const anon = createSigilClient({ baseUrl: server.grpcUrl });
    const byTtl = await admin.issueKey({ name: "short", owner: "o", expiration: { case: "ttl", value: { seconds: 60n, nanos: 0 } } });
    const at = Date.now() + 120_000;
    const byTime = await admin.issueKey({ name: "abs", owner: "o", expiration: { case: "expireTime", value: timestampFromMs(at) } });
    assert.equal(timestampDate(byTime.key!.expireTime!).getTime(), at);
    assert.equal((await anon.verifyKey({ credential: byTtl.secret })).valid, true);
    server.advance(61_000);
    try {
      assert.equal((await anon.verifyKey({ credential: byTtl.secret })).reason, VerifyReason.EXPIRED);
      assert.equal((await anon.verifyKey({ credential: byTime.secret })).valid, true);
      assert.equal((await admin.getKey({ keyId: byTtl.key!.keyId })).key!.status, KeyStatus.EXPIRED);
      server.advance(60_000);
      assert.equal((await anon.verifyKey({ credential: byTime.secret })).reason, VerifyReason.EXPIRED);
    } finally {
      server.advance(-121_000);
    }
    const past = await errorOf(admin.issueKey({ name: "p", owner: "o", expiration: { case: "expireTime", value: timestampFromMs(Date.now() - 1000) } }));
    assert.equal(past.code, Code.InvalidArgument);
    assert.match(past.rawMessage, /expire_time/);
  });

  it("pages through keys newest first, filtered by owner and status", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await admin.issueKey({ name: `page ${i}`, owner: "svc:pager" })).key!.keyId);
    await admin.revokeKey({ keyId: ids[2]!, reason: "test" });
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await admin.listKeys({ owner: "svc:pager", pageSize: 3, pageToken });
      assert.ok(page.keys.length <= 3);
      seen.push(...page.keys.map((k) => k.keyId));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken);
    assert.equal(pages, 3);
    assert.deepEqual(new Set(seen), new Set(ids));
    assert.equal(seen.length, 7, "no key is listed twice");
    const revoked = await admin.listKeys({ owner: "svc:pager", status: KeyStatus.REVOKED });
    assert.deepEqual(revoked.keys.map((k) => k.keyId), [ids[2]]);
    const active = await admin.listKeys({ owner: "svc:pager", status: KeyStatus.ACTIVE });
    assert.equal(active.keys.length, 6);

    const first = await admin.listKeys({ owner: "svc:pager", pageSize: 2 });
    const otherFilter = await errorOf(admin.listKeys({ owner: "svc:other", pageToken: first.nextPageToken }));
    assert.equal(otherFilter.code, Code.InvalidArgument);
    assert.equal((await errorOf(admin.listKeys({ pageToken: "garbage!" }))).code, Code.InvalidArgument);
    assert.equal((await errorOf(admin.listKeys({ pageSize: -1 }))).code, Code.InvalidArgument);
  });

  it("answers NOT_FOUND for unknown keys and revokes idempotently with the first reason", async () => {
    assert.equal((await errorOf(admin.getKey({ keyId: "0000000000000000" }))).code, Code.NotFound);
    assert.equal((await errorOf(admin.revokeKey({ keyId: "0000000000000000" }))).code, Code.NotFound);
    const k = await admin.issueKey({ name: "twice", owner: "o" });
    const once = await admin.revokeKey({ keyId: k.key!.keyId, reason: "leaked" });
    const twice = await admin.revokeKey({ keyId: k.key!.keyId, reason: "again" });
    assert.deepEqual(twice.key, once.key);
    assert.equal(twice.key!.revokeReason, "leaked");
  });
});
