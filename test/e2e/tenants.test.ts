import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { ConnectError } from "@connectrpc/connect";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { CredentialKind, TokenFormat, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { formatApiKey, newKeyId } from "../../src/keys/api-key-format.js";
import { openDatabase } from "../../src/store/open-database.js";
import { answerOf } from "../support/call-outcome.js";
import { testDialect } from "../support/postgres.js";
import { startTestServer, type TestServer } from "../support/test-server.js";
import { Watch } from "../support/watch-stream.js";


const TENANT_ADMIN_ROLES = ["sigil:keys.read", "sigil:keys.write", "sigil:keys.revoke"];

describe(`tenants and roles (${testDialect()})`, () => {
  let server: TestServer;
  let platform: SigilClient;
  let anonymous: SigilClient;
  /** Tenant acme: an admin (read, write, revoke; no audit), a reader, a verify key and a service key. */
  const acme = { admin: "", adminId: "", reader: "", verifier: "", serviceId: "", service: "" };
  /** Tenant globex: a service key and an admin. */
  const globex = { admin: "", serviceId: "", service: "" };
  const as = (key: string) => createSigilClient({ baseUrl: server.grpcUrl, adminKey: key });

  before(async () => {
    server = await startTestServer({ SIGIL_LAST_USE_FLUSH_INTERVAL: "100ms" });
    platform = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    anonymous = createSigilClient({ baseUrl: server.grpcUrl });
    await platform.createTenant({ tenantId: "acme", displayName: "Acme Corp" });
    await platform.createTenant({ tenantId: "globex", displayName: "Globex" });
    const issue = async (tenantId: string, owner: string, scopes: string[], by = platform) => {
      const r = await by.issueKey({ tenantId, name: owner, owner, scopes });
      return { secret: r.secret, keyId: r.key!.keyId, tenantId: r.key!.tenantId };
    };
    const a = await issue("acme", "acme:admin", TENANT_ADMIN_ROLES);
    assert.equal(a.tenantId, "acme");
    [acme.admin, acme.adminId] = [a.secret, a.keyId];
    acme.reader = (await issue("acme", "acme:reader", ["sigil:keys.read"])).secret;
    acme.verifier = (await issue("acme", "acme:verifier", ["sigil:verify"])).secret;
    // The tenant's own admin issues its service keys, without naming the tenant.
    const svc = await issue("", "acme:svc", ["api:read", "api:write"], as(acme.admin));
    assert.equal(svc.tenantId, "acme", "a tenant admin's keys land in its own tenant");
    [acme.service, acme.serviceId] = [svc.secret, svc.keyId];
    const g = await issue("globex", "globex:svc", ["api:read"]);
    [globex.service, globex.serviceId] = [g.secret, g.keyId];
    globex.admin = (await issue("globex", "globex:admin", TENANT_ADMIN_ROLES)).secret;
  });
  after(() => server?.close());

  it("CreateTenant, GetTenant, ListTenants (pages), UpdateTenant; ids are validated; default cannot be deleted", async () => {
    assert.equal(await answerOf(platform.createTenant({ tenantId: "Bad_Id" })), "InvalidArgument: tenant_id: must be 1 to 63 characters of lowercase letters, digits and '-', starting with a letter or digit");
    assert.equal(await answerOf(platform.createTenant({ tenantId: "x".repeat(64) })), "InvalidArgument: tenant_id: must be 1 to 63 characters of lowercase letters, digits and '-', starting with a letter or digit");
    assert.equal(await answerOf(platform.createTenant({ tenantId: "acme" })), "AlreadyExists: tenant acme already exists");
    assert.equal((await platform.getTenant({ tenantId: "acme" })).tenant?.displayName, "Acme Corp");
    const page1 = await platform.listTenants({ pageSize: 2 });
    assert.deepEqual(page1.tenants.map((t) => t.tenantId), ["acme", "default"]);
    const page2 = await platform.listTenants({ pageSize: 2, pageToken: page1.nextPageToken });
    assert.ok(page2.tenants.map((t) => t.tenantId).includes("globex"));
    const updated = await platform.updateTenant({ tenant: { tenantId: "acme", displayName: "Acme Inc" }, updateMask: create(FieldMaskSchema, { paths: ["display_name"] }) });
    assert.equal(updated.tenant?.displayName, "Acme Inc");
    assert.equal(await answerOf(platform.deleteTenant({ tenantId: "default", force: true })), "FailedPrecondition: tenant default cannot be deleted: it holds the platform's own keys");
    // Tenant events are audited in the tenant they are about.
    const events = await platform.listAuditEvents({ tenantId: "acme" });
    assert.ok(events.events.some((e) => e.tenantId === "acme" && e.details?.display_name === "Acme Inc"), "UpdateTenant is audited");
    // A tenant admin reads its own tenant only; tenant administration needs sigil:tenants.admin.
    assert.equal((await as(acme.admin).getTenant({ tenantId: "acme" })).tenant?.tenantId, "acme");
    assert.equal(await answerOf(as(acme.admin).getTenant({ tenantId: "globex" }), "globex"), await answerOf(as(acme.admin).getTenant({ tenantId: "no-such" }), "no-such"));
    assert.equal(await answerOf(as(acme.admin).getTenant({ tenantId: "globex" })), "NotFound: tenant globex not found");
    for (const call of [() => as(acme.admin).createTenant({ tenantId: "mine" }), () => as(acme.admin).listTenants({}), () => as(acme.admin).deleteTenant({ tenantId: "acme" })]) {
      assert.equal(await answerOf(call(), acme.adminId), "PermissionDenied: key <id> lacks the sigil:tenants.admin role (or sigil:admin)");
    }
  });

  it("isolation matrix: a tenant-bound key acting on another tenant's objects gets the answer of an object that does not exist", async () => {
    const missingKey = newKeyId();
    const A = as(acme.admin);
    const mask = (paths: string[]) => create(FieldMaskSchema, { paths });
    // [what, the call on globex's object, the same call on one that does not exist, the object's id in each]
    const calls: Array<[string, (keyIdOrTenant: string) => Promise<unknown>, string, string]> = [
      ["GetKey", (k) => A.getKey({ keyId: k }), globex.serviceId, missingKey],
      ["UpdateKey", (k) => A.updateKey({ key: { keyId: k, name: "x" }, updateMask: mask(["name"]) }), globex.serviceId, missingKey],
      ["RotateKey", (k) => A.rotateKey({ keyId: k }), globex.serviceId, missingKey],
      ["RevokeKey", (k) => A.revokeKey({ keyId: k }), globex.serviceId, missingKey],
      ["GetKeyUsage", (k) => A.getKeyUsage({ keyId: k }), globex.serviceId, missingKey],
      ["ListKeys", (t) => A.listKeys({ tenantId: t }), "globex", "no-such"],
      ["IssueKey", (t) => A.issueKey({ tenantId: t, name: "n", owner: "o", scopes: ["api:read"] }), "globex", "no-such"],
      ["ImportKey", (t) => A.importKey({ tenantId: t, keyMaterial: { case: "rawKey", value: "legacy-key-0123456789" }, name: "n", owner: "o" }), "globex", "no-such"],
      ["BatchImportKeys", (t) => A.batchImportKeys({ requests: [{ tenantId: t, keyMaterial: { case: "rawKey", value: "legacy-key-0123456789" }, name: "n", owner: "o" }] }).then((r) => { const e = r.results[0]!.result; if (e.case === "error") throw new ConnectError(e.value.message, e.value.code); }), "globex", "no-such"],
      ["GetTenant", (t) => A.getTenant({ tenantId: t }), "globex", "no-such"],
    ];
    for (const [what, call, theirs, missing] of calls) {
      const got = await answerOf(call(theirs), theirs);
      assert.match(got, /^NotFound: /, `${what} on another tenant's object`);
      assert.equal(got, await answerOf(call(missing), missing), `${what}: another tenant's object answers like one that does not exist`);
    }
    // ListAuditEvents needs sigil:audit.read, which this admin lacks: refused whatever it names.
    const denied = `PermissionDenied: key ${acme.adminId} lacks the sigil:audit.read role (or sigil:admin)`;
    assert.equal(await answerOf(A.listAuditEvents({ tenantId: "globex" })), denied);
    assert.equal(await answerOf(A.listAuditEvents({})), denied);
    // The globex key is untouched by all of the above.
    const check = await anonymous.verifyKey({ credential: globex.service });
    assert.equal(check.reason, VerifyReason.VALID);
    assert.equal((await platform.getKey({ keyId: globex.serviceId })).key?.name, "globex:svc");
  });

  it("a tenant key lacking a role gets PERMISSION_DENIED in its own tenant, and for other tenants' objects alike", async () => {
    const R = as(acme.reader);
    const readerId = (await R.listKeys({ owner: "acme:reader" })).keys[0]!.keyId;
    const lacks = (role: string) => `PermissionDenied: key <id> lacks the ${role} role (or sigil:admin)`;
    const mask = create(FieldMaskSchema, { paths: ["name"] });
    for (const target of [acme.serviceId, globex.serviceId]) {
      assert.equal(await answerOf(R.updateKey({ key: { keyId: target, name: "x" }, updateMask: mask }), readerId), lacks("sigil:keys.write"));
      assert.equal(await answerOf(R.rotateKey({ keyId: target }), readerId), lacks("sigil:keys.write"));
      assert.equal(await answerOf(R.revokeKey({ keyId: target }), readerId).then((a) => a.replace(/^PermissionDenied: a key may only revoke itself.*/, lacks("sigil:keys.revoke"))), lacks("sigil:keys.revoke"));
    }
    for (const tenantId of ["acme", "globex", ""]) {
      assert.equal(await answerOf(R.issueKey({ tenantId, name: "n", owner: "o" }), readerId), lacks("sigil:keys.write"));
      assert.equal(await answerOf(R.listAuditEvents({ tenantId }), readerId), lacks("sigil:audit.read"));
    }
    assert.equal(await answerOf(R.createTenant({ tenantId: "z" }), readerId), lacks("sigil:tenants.admin"));
    // What it holds, it may do, in its own tenant only.
    const listed = await R.listKeys({});
    assert.ok(listed.keys.length >= 4 && listed.keys.every((k) => k.tenantId === "acme"), "ListKeys lists its own tenant only");
    // A service key (no role at all) is refused even GetTenant of its own tenant.
    assert.match(await answerOf(as(acme.service).getTenant({ tenantId: "acme" })), /^PermissionDenied: key \w+ lacks any sigil: role$/);
  });

  it("the default tenant's admin acts on every tenant; tenant admins see only their own keys and events", async () => {
    assert.equal((await platform.getKey({ keyId: acme.serviceId })).key?.tenantId, "acme");
    assert.equal((await platform.getKey({ keyId: globex.serviceId })).key?.tenantId, "globex");
    const acmeKeys = await platform.listKeys({ tenantId: "acme" });
    assert.ok(acmeKeys.keys.every((k) => k.tenantId === "acme") && acmeKeys.keys.some((k) => k.keyId === acme.serviceId));
    const own = await platform.listKeys({});
    assert.ok(own.keys.every((k) => k.tenantId === "default"), "ListKeys without a tenant lists the caller's own (default)");
    const events = await platform.listAuditEvents({ tenantId: "globex" });
    assert.ok(events.events.length > 0 && events.events.every((e) => e.tenantId === "globex"));
    const mask = create(FieldMaskSchema, { paths: ["metadata"] });
    const changed = await as(globex.admin).updateKey({ key: { keyId: globex.serviceId, metadata: { team: "g" } }, updateMask: mask });
    assert.equal(changed.key?.metadata.team, "g", "a tenant admin updates its own tenant's keys");
  });

  it("no privilege escalation: wider roles, own scopes, imports and derived tokens with roles, platform roles outside default", async () => {
    const A = as(acme.admin);
    assert.equal(await answerOf(A.issueKey({ name: "n", owner: "o", scopes: ["sigil:audit.read"] }), acme.adminId), "PermissionDenied: scopes: key <id> cannot grant sigil:audit.read, which it does not hold");
    assert.equal(await answerOf(A.issueKey({ name: "n", owner: "o", scopes: ["sigil:verify"] }), acme.adminId), "PermissionDenied: scopes: key <id> cannot grant sigil:verify, which it does not hold");
    assert.equal(await answerOf(A.issueKey({ name: "n", owner: "o", scopes: ["sigil:tenants.admin"] })), "InvalidArgument: scopes: sigil:tenants.admin can only be held by keys of the tenant default");
    assert.equal(await answerOf(platform.issueKey({ tenantId: "acme", name: "n", owner: "o", scopes: ["sigil:tenants.admin"] })), "InvalidArgument: scopes: sigil:tenants.admin can only be held by keys of the tenant default");
    assert.equal(await answerOf(platform.issueKey({ tenantId: "acme", name: "n", owner: "o", scopes: ["sigil:admin"] })), "InvalidArgument: scopes: sigil:admin can only be held by keys of the tenant default");
    // Its own key, wider: refused; the same scopes it holds: fine.
    const mask = create(FieldMaskSchema, { paths: ["scopes"] });
    assert.equal(
      await answerOf(A.updateKey({ key: { keyId: acme.adminId, scopes: [...TENANT_ADMIN_ROLES, "sigil:audit.read"] }, updateMask: mask }), acme.adminId),
      "PermissionDenied: scopes: key <id> cannot grant sigil:audit.read, which it does not hold",
    );
    assert.equal(await answerOf(A.updateKey({ key: { keyId: acme.serviceId, scopes: ["api:read", "sigil:keys.read"] }, updateMask: mask })), "ok");
    assert.equal(await answerOf(platform.updateKey({ key: { keyId: acme.serviceId, scopes: ["sigil:tenants.admin"] }, updateMask: mask })), "InvalidArgument: scopes: sigil:tenants.admin can only be held by keys of the tenant default");
    assert.equal((await platform.getKey({ keyId: acme.adminId })).key?.scopes.join(" "), TENANT_ADMIN_ROLES.join(" "), "nothing changed");
    // Imports never hold roles.
    const imported = await answerOf(platform.importKey({ keyMaterial: { case: "rawKey", value: "legacy-admin-0123456789" }, name: "n", owner: "o", scopes: ["sigil:tenants.admin"] }));
    assert.match(imported, /^InvalidArgument: scopes: sigil:tenants.admin cannot be held by an imported key/);
    // Derived tokens never carry a role: asked for, refused; by default, left out.
    assert.equal(await answerOf(platform.deriveToken({ credential: server.adminKey, scopes: ["sigil:admin"] })), "PermissionDenied: scopes: sigil:admin cannot be carried by a derived token (Sigil roles stay on API keys)");
    assert.equal(await answerOf(anonymous.deriveToken({ credential: acme.admin })), "FailedPrecondition: the parent key holds no scopes a token may carry, so no token can be derived from it");
    const token = await anonymous.deriveToken({ credential: acme.service });
    assert.deepEqual(token.scopes, ["api:read"], "a token of a key holding a role carries only its other scopes");
  });

  it("VerifyKey answers carry the tenant; restricted to a tenant, another tenant's key, macaroon and JWT are NOT_FOUND", async () => {
    const plain = await anonymous.verifyKey({ credential: globex.service });
    assert.equal(plain.tenantId, "globex");
    assert.equal((await anonymous.verifyKey({ credential: globex.service, tenantId: "globex" })).reason, VerifyReason.VALID);
    const missing = formatApiKey("sgl", newKeyId()).key;
    const strip = (r: { reason: VerifyReason; valid: boolean; kind: CredentialKind; owner: string; tenantId: string; scopes: string[] }) => ({ reason: r.reason, valid: r.valid, kind: r.kind, owner: r.owner, tenantId: r.tenantId, scopes: r.scopes });
    const other = await anonymous.verifyKey({ credential: globex.service, tenantId: "acme" });
    const none = await anonymous.verifyKey({ credential: missing, tenantId: "acme" });
    assert.deepEqual(strip(other), strip(none), "another tenant's key answers as a key that does not exist");
    assert.equal(other.reason, VerifyReason.NOT_FOUND);
    for (const format of [TokenFormat.JWT, TokenFormat.MACAROON]) {
      const { token } = await anonymous.deriveToken({ credential: globex.service, format });
      const got = await anonymous.verifyKey({ credential: token, tenantId: "acme" });
      assert.deepEqual([got.valid, got.reason, got.owner, got.tenantId, got.scopes], [false, VerifyReason.NOT_FOUND, "", "", []], `${TokenFormat[format]} of another tenant`);
      const own = await anonymous.verifyKey({ credential: token, tenantId: "globex" });
      assert.deepEqual([own.reason, own.tenantId], [VerifyReason.VALID, "globex"]);
    }
    const batch = await anonymous.batchVerifyKeys({ requests: [{ credential: globex.service, tenantId: "acme" }, { credential: acme.service, tenantId: "acme" }] });
    assert.deepEqual(batch.results.map((r) => [r.reason, r.tenantId]), [[VerifyReason.NOT_FOUND, ""], [VerifyReason.VALID, "acme"]]);
    assert.equal(await answerOf(anonymous.verifyKey({ credential: globex.service, tenantId: "Not A Tenant" })), "InvalidArgument: tenant_id: must be 1 to 63 characters of lowercase letters, digits and '-', starting with a letter or digit");
  });

  it("every key, audit event, feed entry and usage record carries its tenant; gateways name it", async () => {
    const authorize = await fetch(`${server.httpUrl}/v1/authorize`, { headers: { authorization: `Bearer ${acme.service}` } });
    assert.equal(authorize.status, 200);
    assert.equal(authorize.headers.get("x-sigil-tenant-id"), "acme", "the forward-auth identity header");
    await anonymous.verifyKey({ credential: acme.service });
    const { db } = openDatabase(server.databaseUrl);
    try {
      const deadline = Date.now() + 30_000;
      let usage: Array<{ tenant_id: string }> = [];
      while (usage.length === 0) {
        assert.ok(Date.now() < deadline, "usage counts are flushed");
        await new Promise((r) => setTimeout(r, 100));
        usage = await db.selectFrom("key_usage").select("tenant_id").where("key_id", "=", acme.serviceId).execute();
      }
      assert.ok(usage.every((u) => u.tenant_id === "acme"), "usage records");
      const feed = await db.selectFrom("change_feed").select("tenant_id").where("key_id", "=", acme.serviceId).execute();
      assert.ok(feed.length > 0 && feed.every((f) => f.tenant_id === "acme"), "change-feed entries");
      const audit = await db.selectFrom("audit_events").select("tenant_id").where("key_id", "=", acme.serviceId).execute();
      assert.ok(audit.length > 0 && audit.every((a) => a.tenant_id === "acme"), "audit events");
      const row = await db.selectFrom("keys").select("tenant_id").where("key_id", "=", globex.serviceId).executeTakeFirstOrThrow();
      assert.equal(row.tenant_id, "globex", "keys");
    } finally {
      await db.destroy();
    }
  });

  it("a string managed in one tenant may be imported in another without revealing it; each tenant's verification finds its own", async () => {
    const raw = "shared-legacy-key-9f8e7d6c5b4a";
    const inAcme = await platform.importKey({ tenantId: "acme", keyMaterial: { case: "rawKey", value: raw }, name: "legacy", owner: "acme:legacy" });
    const inGlobex = await as(globex.admin).importKey({ keyMaterial: { case: "rawKey", value: raw }, name: "legacy", owner: "globex:legacy" });
    assert.equal(inGlobex.key?.tenantId, "globex");
    assert.match(await answerOf(as(globex.admin).importKey({ keyMaterial: { case: "rawKey", value: raw }, name: "again", owner: "o" })), /^AlreadyExists: this key is already managed by Sigil \(key \w+\)$/);
    assert.equal((await anonymous.verifyKey({ credential: raw, tenantId: "acme" })).keyId, inAcme.key?.keyId);
    assert.equal((await anonymous.verifyKey({ credential: raw, tenantId: "globex" })).keyId, inGlobex.key?.keyId);
    assert.equal((await anonymous.verifyKey({ credential: raw })).keyId, inAcme.key?.keyId, "unrestricted: the earliest import");
  });

  it("a verify key bound to a tenant follows only its tenant's revocations", async () => {
    const watch = new Watch(anonymous, acme.verifier);
    try {
      await watch.next();
      const theirs = await platform.issueKey({ tenantId: "globex", name: "t", owner: "t" });
      const ours = await platform.issueKey({ tenantId: "acme", name: "t", owner: "t" });
      await platform.revokeKey({ keyId: theirs.key!.keyId });
      await platform.revokeKey({ keyId: ours.key!.keyId });
      const { seen } = await watch.until([ours.key!.keyId]);
      assert.deepEqual(seen, [ours.key!.keyId], "globex's revocation is not streamed to acme's verifier");
    } finally {
      watch.close();
    }
  });

  it("DeleteTenant: refused with active keys; force revokes them all, on this process and on another one", async () => {
    await platform.createTenant({ tenantId: "initech" });
    const k1 = await platform.issueKey({ tenantId: "initech", name: "a", owner: "a", scopes: ["x"] });
    const k2 = await platform.issueKey({ tenantId: "initech", name: "b", owner: "b" });
    const second = await startTestServer({}, { join: server });
    try {
      const other = createSigilClient({ baseUrl: second.grpcUrl });
      assert.equal((await other.verifyKey({ credential: k1.secret })).reason, VerifyReason.VALID);
      assert.equal(await answerOf(platform.deleteTenant({ tenantId: "initech" })), "FailedPrecondition: tenant initech still has active keys: revoke them first, or delete with force (which revokes them all)");
      assert.equal((await platform.deleteTenant({ tenantId: "initech", force: true })).revokedKeyCount, 2);
      for (const k of [k1, k2]) assert.equal((await anonymous.verifyKey({ credential: k.secret })).reason, VerifyReason.REVOKED);
      const deadline = Date.now() + 30_000;
      // k1 is in the other process's cache (it verified it): only the feed makes it reject it.
      while ((await other.verifyKey({ credential: k1.secret })).reason !== VerifyReason.REVOKED) {
        assert.ok(Date.now() < deadline, "the other process learns of the revocations from the feed");
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal((await other.verifyKey({ credential: k2.secret })).reason, VerifyReason.REVOKED);
      assert.equal(await answerOf(platform.getTenant({ tenantId: "initech" })), "NotFound: tenant initech not found");
      assert.equal(await answerOf(platform.issueKey({ tenantId: "initech", name: "n", owner: "o" })), "NotFound: tenant initech not found");
      assert.match(await answerOf(platform.createTenant({ tenantId: "initech" })), /^AlreadyExists: tenant initech already was used by a deleted tenant/);
      const events = (await platform.listAuditEvents({ tenantId: "initech" })).events;
      const deletion = events.find((e) => e.details?.revoked_key_count !== undefined);
      assert.deepEqual(deletion?.details, { force: true, revoked_key_count: 2 }, "the deletion is audited");
      assert.equal(deletion?.actorKeyId, server.adminKey.split("_")[1]);
      assert.deepEqual(events.filter((e) => e.details?.reason === "tenant deleted").map((e) => e.keyId).sort(), [k1.key!.keyId, k2.key!.keyId].sort(), "each revocation too");
    } finally {
      await second.close();
    }
  });

  it("DeleteTenant with force is bounded: over the most keys it revokes, it is refused and changes nothing", async () => {
    const bounded = await startTestServer({}, { maxForcedTenantRevocations: 2 });
    try {
      const admin = createSigilClient({ baseUrl: bounded.grpcUrl, adminKey: bounded.adminKey });
      await admin.createTenant({ tenantId: "globex" });
      const keys = [];
      for (const name of ["a", "b", "c"]) keys.push(await admin.issueKey({ tenantId: "globex", name, owner: name }));
      assert.equal(
        await answerOf(admin.deleteTenant({ tenantId: "globex", force: true })),
        "FailedPrecondition: tenant globex has more than 2 unrevoked keys, the most a forced delete revokes in one transaction: revoke some first (RevokeKey, sigil keys revoke), then delete it",
      );
      const anyone = createSigilClient({ baseUrl: bounded.grpcUrl });
      for (const k of keys) assert.equal((await anyone.verifyKey({ credential: k.secret })).reason, VerifyReason.VALID, "nothing was revoked");
      assert.equal((await admin.getTenant({ tenantId: "globex" })).tenant?.tenantId, "globex", "nor deleted");
      await admin.revokeKey({ keyId: keys[0]!.key!.keyId });
      assert.equal((await admin.deleteTenant({ tenantId: "globex", force: true })).revokedKeyCount, 2);
      for (const k of keys) assert.equal((await anyone.verifyKey({ credential: k.secret })).reason, VerifyReason.REVOKED);
    } finally {
      await bounded.close();
    }
  });

  it("the re-check inside a mutation's transaction reads the role from the row, not from a stale cache", async () => {
    // A's cache hears of B's changes only after a minute on SQLite (on PostgreSQL a notification may come sooner).
    const a = await startTestServer({ SIGIL_FEED_POLL_INTERVAL: "60s" });
    const b = await startTestServer({}, { join: a });
    try {
      const platformOnB = createSigilClient({ baseUrl: b.grpcUrl, adminKey: a.adminKey });
      await createSigilClient({ baseUrl: a.grpcUrl, adminKey: a.adminKey }).createTenant({ tenantId: "acme" });
      const admin = await platformOnB.issueKey({ tenantId: "acme", name: "acme admin", owner: "acme:admin", scopes: TENANT_ADMIN_ROLES });
      const target = await platformOnB.issueKey({ tenantId: "acme", name: "svc", owner: "acme:svc", scopes: ["api:read"] });
      const onA = createSigilClient({ baseUrl: a.grpcUrl, adminKey: admin.secret });
      const mask = (paths: string[]) => create(FieldMaskSchema, { paths });
      for (let round = 0; round < 3; round++) {
        // A caches the admin key as holding keys.write (a read passes its pre-check there).
        await platformOnB.updateKey({ key: { keyId: admin.key!.keyId, scopes: TENANT_ADMIN_ROLES }, updateMask: mask(["scopes"]) });
        await onA.getKey({ keyId: target.key!.keyId });
        // B takes keys.write away; A's cache may still hold the old scopes.
        await platformOnB.updateKey({ key: { keyId: admin.key!.keyId, scopes: ["sigil:keys.read"] }, updateMask: mask(["scopes"]) });
        const answers = await Promise.all([
          answerOf(onA.issueKey({ name: "n", owner: "o", scopes: ["api:read"] })),
          answerOf(onA.updateKey({ key: { keyId: target.key!.keyId, name: "renamed" }, updateMask: mask(["name"]) })),
          answerOf(onA.rotateKey({ keyId: target.key!.keyId })),
          answerOf(onA.importKey({ keyMaterial: { case: "rawKey", value: `legacy-${newKeyId()}` }, name: "n", owner: "o" })),
        ]);
        for (const got of answers) assert.equal(got, `PermissionDenied: key ${admin.key!.keyId} lacks the sigil:keys.write role (or sigil:admin)`, `round ${round}`);
      }
      assert.equal((await platformOnB.getKey({ keyId: target.key!.keyId })).key?.name, "svc", "nothing was written");
    } finally {
      await b.close();
      await a.close();
    }
  });

  it("writes no secret to the log", async () => {
    const log = server.logs.join("\n");
    for (const secret of [acme.admin, acme.reader, acme.verifier, acme.service, globex.service, globex.admin, server.adminKey]) {
      assert.ok(!log.includes(secret), "a key string in the log");
      assert.ok(!log.includes(secret.split("_")[2]!), "a secret in the log");
    }
    assert.ok(!log.includes("shared-legacy-key"), "an imported string in the log");
  });
});
