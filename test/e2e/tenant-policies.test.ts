import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, FieldMaskSchema, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { TenantPolicySchema } from "../../clients/typescript/src/gen/sigil/v1/tenant_pb.js";
import { runCli } from "../support/cli-process.js";
import { answerOf } from "../support/call-outcome.js";
import { testDialect } from "../support/postgres.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

const DAY = 86_400_000;


describe(`tenant policies (${testDialect()})`, () => {
  let server: TestServer;
  let platform: SigilClient;
  const ttl = (ms: number) => ({ case: "ttl" as const, value: durationFromMs(ms) });

  before(async () => {
    server = await startTestServer();
    platform = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    const policy = create(TenantPolicySchema, { maxKeyLifetime: durationFromMs(DAY), requireExpiry: true, allowedScopePatterns: ["orders:*"], maxActiveKeys: 3 });
    const created = await platform.createTenant({ tenantId: "pol", policy });
    assert.deepEqual([created.tenant?.policy?.maxActiveKeys, created.tenant?.policy?.allowedScopePatterns], [3, ["orders:*"]]);
  });
  after(() => server?.close());

  it("IssueKey: expiry required, lifetime bounded, scopes matched, active keys counted (also within one group commit)", async () => {
    const issue = (over: Record<string, unknown>) => answerOf(platform.issueKey({ tenantId: "pol", name: "k", owner: "o", scopes: ["orders:read"], expiration: ttl(3_600_000), ...over }));
    assert.equal(await issue({ expiration: { case: undefined } }), "FailedPrecondition: tenant pol policy require_expiry: every key must expire: set ttl or expire_time");
    assert.equal(await issue({ expiration: ttl(2 * DAY) }), "FailedPrecondition: tenant pol policy max_key_lifetime: keys may live at most 86400s: set a ttl or expire_time within it");
    assert.equal(await issue({ scopes: ["orders:read", "billing:read"] }), "FailedPrecondition: tenant pol policy allowed_scope_patterns: billing:read matches none of orders:*");
    assert.equal(await issue({ scopes: ["orders:read", "sigil:keys.read"] }), "ok", "roles are governed by roles, not by scope patterns");
    assert.equal(await issue({}), "ok");
    // Two active; four at once (one group commit, most likely): exactly one more fits.
    const answers = await Promise.all([issue({}), issue({}), issue({}), issue({})]);
    assert.equal(answers.filter((a) => a === "ok").length, 1, answers.join("; "));
    // Refused in the same transaction as the one that fit (holds 2), or in a later one (holds 3).
    for (const a of answers.filter((x) => x !== "ok")) assert.match(a, /^FailedPrecondition: tenant pol policy max_active_keys: the tenant may hold at most 3 active keys and holds [23]; revoke some first$/);
    assert.match(await issue({}), /^FailedPrecondition: tenant pol policy max_active_keys: the tenant may hold at most 3 active keys and holds 3; revoke some first$/);
    const keys = await platform.listKeys({ tenantId: "pol", status: 1 });
    assert.equal(keys.keys.length, 3);
    await platform.revokeKey({ keyId: keys.keys[0]!.keyId });
    assert.equal(await issue({}), "ok", "a revoked key makes room");
    // The default tenant has no policy.
    assert.equal(await answerOf(platform.issueKey({ name: "k", owner: "o", scopes: ["billing:read"] })), "ok");
  });

  it("UpdateKey and ImportKey keep the policy; BatchImportKeys fails only the items that break it", async () => {
    const [key] = (await platform.listKeys({ tenantId: "pol", status: 1 })).keys;
    const update = (k: Record<string, unknown>, paths: string[]) => answerOf(platform.updateKey({ key: { keyId: key!.keyId, ...k }, updateMask: create(FieldMaskSchema, { paths }) }));
    assert.match(await update({}, ["expire_time"]), /^FailedPrecondition: tenant pol policy require_expiry: /);
    assert.match(await update({ expireTime: timestampFromMs(Date.now() + 2 * DAY) }, ["expire_time"]), /^FailedPrecondition: tenant pol policy max_key_lifetime: /);
    assert.match(await update({ scopes: ["admin:all"] }, ["scopes"]), /^FailedPrecondition: tenant pol policy allowed_scope_patterns: admin:all matches none of orders:\*$/);
    assert.equal(await update({ scopes: ["orders:write"] }, ["scopes"]), "ok");

    await platform.updateTenant({ tenant: { tenantId: "pol", policy: { requireExpiry: true, maxActiveKeys: 4 } }, updateMask: create(FieldMaskSchema, { paths: ["policy"] }) });
    const got = (await platform.getTenant({ tenantId: "pol" })).tenant?.policy;
    assert.deepEqual([got?.requireExpiry, got?.maxActiveKeys, got?.allowedScopePatterns, got?.maxKeyLifetime], [true, 4, [], undefined], "UpdateTenant replaces the policy");
    const material = (n: number) => ({ case: "rawKey" as const, value: `legacy-policy-key-${n}-0123456789` });
    assert.match(await answerOf(platform.importKey({ tenantId: "pol", keyMaterial: material(0), name: "n", owner: "o" })), /^FailedPrecondition: tenant pol policy require_expiry: /);
    const expireTime = timestampFromMs(Date.now() + DAY);
    const batch = await platform.batchImportKeys({ requests: [1, 2].map((n) => ({ tenantId: "pol", keyMaterial: material(n), name: "n", owner: "o", expireTime })) });
    const outcomes = batch.results.map((r) => (r.result.case === "key" ? "ok" : `${Code[r.result.value!.code]}: ${r.result.value!.message}`));
    assert.deepEqual(outcomes, ["ok", "FailedPrecondition: tenant pol policy max_active_keys: the tenant may hold at most 4 active keys and holds 4; revoke some first"]);
    assert.match(await answerOf(platform.updateTenant({ tenant: { tenantId: "pol", policy: { maxActiveKeys: -1 } }, updateMask: create(FieldMaskSchema, { paths: ["policy"] }) })), /^InvalidArgument: tenant\.policy\.max_active_keys: /);
  });

  it("sigil tenants create and update set the policy; get shows it", async () => {
    const env = { SIGIL_SERVER: server.grpcUrl, SIGIL_ADMIN_KEY: server.adminKey };
    const created = await runCli(["tenants", "create", "cli-pol", "--require-expiry", "--max-key-lifetime", "30d", "--allowed-scope", "api:*", "--max-active-keys", "10"], { env });
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^policy\s+max_key_lifetime=2592000s require_expiry allowed_scopes=api:\* max_active_keys=10$/m);
    const updated = await runCli(["tenants", "update", "cli-pol", "--max-active-keys", "1"], { env });
    assert.equal(updated.code, 0, updated.stderr);
    const shown = await runCli(["tenants", "get", "cli-pol"], { env });
    assert.match(shown.stdout, /^policy\s+max_active_keys=1$/m);
    const issue = () => runCli(["keys", "issue", "--tenant", "cli-pol", "--name", "n", "--owner", "o"], { env });
    assert.equal((await issue()).code, 0, "the policy was replaced: no expiry needed any more");
    const refused = await issue();
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, "sigil: FAILED_PRECONDITION: tenant cli-pol policy max_active_keys: the tenant may hold at most 1 active keys and holds 1; revoke some first\n");
    const listed = await runCli(["tenants", "list"], { env });
    assert.match(listed.stdout, /cli-pol/);
  });
});
