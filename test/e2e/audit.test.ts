import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { durationFromMs, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { AuditAction, type AuditEvent } from "../../clients/typescript/src/gen/sigil/v1/audit_pb.js";
import { codeOf } from "../support/call-outcome.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

const keyIdOf = (key: string) => key.split("_")[1]!;

describe("audit trail: every mutation recorded, ListAuditEvents with filters and paging", () => {
  let server: TestServer;
  let admin: SigilClient;
  let adminId: string;
  before(async () => {
    server = await startTestServer();
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    adminId = keyIdOf(server.adminKey);
  });
  after(() => server.close());

  const eventsOf = async (keyId: string) => (await admin.listAuditEvents({ keyId, pageSize: 1000 })).events.slice().reverse();
  const summary = (e: AuditEvent) => [AuditAction[e.action], e.actorKeyId];

  it("records the server's own first admin key with no actor", async () => {
    const [event] = await eventsOf(adminId);
    assert.deepEqual(summary(event!), ["ISSUE_KEY", ""]);
    assert.deepEqual(event!.details, { name: "bootstrap admin", owner: "sigil:bootstrap", scopes: ["sigil:admin"], metadata: {}, expire_time: null });
  });

  it("records issue, update, rotate, revoke, self-revocation and imports with who, what and when, and no secret", async () => {
    const secrets: string[] = [];
    const started = Date.now();
    const issued = await admin.issueKey({
      name: "audited",
      owner: "svc:audit",
      scopes: ["read"],
      rateLimit: { requests: 5, window: durationFromMs(60_000) },
      allowedNetworks: ["10.0.0.0/8"],
      requestId: "audit-1",
    });
    secrets.push(issued.secret);
    const keyId = issued.key!.keyId;
    await admin.updateKey({ key: { keyId, scopes: ["read", "write"], enabled: false }, updateMask: { paths: ["scopes", "enabled"] } });
    // A refused mutation is not a mutation: nothing is recorded.
    assert.equal(await codeOf(admin.updateKey({ key: { keyId, name: "" }, updateMask: { paths: ["name"] } })), Code.InvalidArgument);
    const rotated = await admin.rotateKey({ keyId, gracePeriod: durationFromMs(3_600_000) });
    secrets.push(rotated.secret);
    await admin.revokeKey({ keyId, reason: "decommissioned" });
    await admin.revokeKey({ keyId, reason: "again" }); // already revoked: no second event

    const events = await eventsOf(keyId);
    assert.deepEqual(events.map(summary), [
      ["ISSUE_KEY", adminId],
      ["UPDATE_KEY", adminId],
      ["ROTATE_KEY", adminId],
      ["REVOKE_KEY", adminId],
    ]);
    for (const e of events) {
      assert.equal(e.keyId, keyId);
      const t = timestampMs(e.time!);
      assert.ok(t >= started - 1000 && t <= Date.now() + 1000, "when");
    }
    assert.deepEqual(events[0]!.details, {
      name: "audited",
      owner: "svc:audit",
      scopes: ["read"],
      metadata: {},
      expire_time: null,
      rate_limit: { requests: 5, window_seconds: 60, burst: 5 },
      credits: null,
      allowed_networks: ["10.0.0.0/8"],
    });
    assert.deepEqual(events[1]!.details, { fields: ["scopes", "enabled"], scopes: ["read", "write"], enabled: false });
    assert.equal(events[2]!.details!.grace_period_seconds, 3600);
    assert.deepEqual(events[3]!.details, { reason: "decommissioned", self_revocation: false });
    // Sequence numbers grow with time.
    const seqs = events.map((e) => e.sequence);
    assert.deepEqual([...seqs].sort((a, b) => (a < b ? -1 : 1)), seqs);

    // Self-revocation: the actor is the key itself.
    const selfRevoked = await admin.issueKey({ name: "leaky", owner: "svc:audit" });
    secrets.push(selfRevoked.secret);
    await createSigilClient({ baseUrl: server.grpcUrl, adminKey: selfRevoked.secret }).revokeKey({ keyId: selfRevoked.key!.keyId, reason: "leaked" });
    const selfEvents = await eventsOf(selfRevoked.key!.keyId);
    assert.deepEqual(selfEvents.map(summary), [
      ["ISSUE_KEY", adminId],
      ["REVOKE_KEY", selfRevoked.key!.keyId],
    ]);
    assert.deepEqual(selfEvents[1]!.details, { reason: "leaked", self_revocation: true });

    // Imports, single and batch.
    const raw = `legacy_${randomBytes(16).toString("hex")}`;
    secrets.push(raw);
    const imported = await admin.importKey({ keyMaterial: { case: "rawKey", value: raw }, name: "old", owner: "svc:audit" });
    const batchRaw = `legacy_${randomBytes(16).toString("hex")}`;
    secrets.push(batchRaw);
    const batch = await admin.batchImportKeys({ requests: [{ keyMaterial: { case: "rawKey", value: batchRaw }, name: "old2", owner: "svc:audit" }] });
    const batchKeyId = batch.results[0]!.result.case === "key" ? batch.results[0]!.result.value.keyId : "";
    for (const [id, source] of [[imported.key!.keyId, "raw_key"], [batchKeyId, "raw_key"]] as const) {
      const [event] = await eventsOf(id);
      assert.deepEqual(summary(event!), ["IMPORT_KEY", adminId]);
      assert.equal(event!.details!.source, source);
    }

    // No secret, key string or hash anywhere in the trail.
    const all = JSON.stringify((await admin.listAuditEvents({ pageSize: 1000 })).events.map((e) => e.details));
    for (const s of secrets) assert.ok(!all.includes(s) && !all.includes(s.slice(-20)), "no secret in audit details");
    assert.ok(!/hash/i.test(all));
  });

  it("filters by key, actor, action and time, and pages newest first", async () => {
    const other = await admin.issueKey({ name: "second admin", owner: "ops", scopes: ["sigil:admin"] });
    const otherAdmin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: other.secret });
    const otherId = other.key!.keyId;
    const t0 = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await otherAdmin.issueKey({ name: `by other ${i}`, owner: "svc:paged" })).key!.keyId);
    await otherAdmin.revokeKey({ keyId: ids[0]! });

    const byActor = await admin.listAuditEvents({ actorKeyId: otherId, pageSize: 100 });
    assert.deepEqual(byActor.events.map((e) => [AuditAction[e.action], e.keyId]), [["REVOKE_KEY", ids[0]], ...[...ids].reverse().map((id) => ["ISSUE_KEY", id])]);
    const revokes = await admin.listAuditEvents({ actorKeyId: otherId, action: AuditAction.REVOKE_KEY });
    assert.deepEqual(revokes.events.map((e) => e.keyId), [ids[0]]);
    const since = await admin.listAuditEvents({ startTime: timestampFromMs(t0 - 1), actorKeyId: otherId });
    assert.equal(since.events.length, 6);
    const none = await admin.listAuditEvents({ endTime: timestampFromMs(t0 - 60_000), actorKeyId: otherId });
    assert.equal(none.events.length, 0);

    // Pages of 2 through the same six events, newest first, nothing missed or repeated.
    const paged: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await admin.listAuditEvents({ actorKeyId: otherId, pageSize: 2, pageToken });
      paged.push(...page.events.map((e) => `${e.sequence}`));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken);
    assert.deepEqual(paged, byActor.events.map((e) => `${e.sequence}`));
    assert.equal(pages, 3);

    // A page token only continues the listing it came from; bad filters are INVALID_ARGUMENT.
    const first = await admin.listAuditEvents({ actorKeyId: otherId, pageSize: 2 });
    assert.equal(await codeOf(admin.listAuditEvents({ pageToken: first.nextPageToken })), Code.InvalidArgument);
    assert.equal(await codeOf(admin.listAuditEvents({ pageToken: "garbage!" })), Code.InvalidArgument);
    assert.equal(await codeOf(admin.listAuditEvents({ keyId: "not a key id" })), Code.InvalidArgument);
    assert.equal(await codeOf(admin.listAuditEvents({ pageSize: -1 })), Code.InvalidArgument);
    assert.equal(await codeOf(admin.listAuditEvents({ startTime: timestampFromMs(t0), endTime: timestampFromMs(t0 - 1) })), Code.InvalidArgument);
  });

  it("is for admins only", async () => {
    assert.equal(await codeOf(createSigilClient({ baseUrl: server.grpcUrl }).listAuditEvents({})), Code.Unauthenticated);
    const user = await admin.issueKey({ name: "user", owner: "svc:u", scopes: ["read"] });
    assert.equal(await codeOf(createSigilClient({ baseUrl: server.grpcUrl, adminKey: user.secret }).listAuditEvents({})), Code.PermissionDenied);
  });
});
