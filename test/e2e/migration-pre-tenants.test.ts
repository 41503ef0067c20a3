import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { describe, it } from "node:test";
import { toJson } from "@bufbuild/protobuf";
import { createSigilClient } from "../../clients/typescript/src/index.js";
import { ListAuditEventsResponseSchema } from "../../clients/typescript/src/gen/sigil/v1/audit_pb.js";
import { GetKeyResponseSchema, GetKeyUsageResponseSchema, VerifyKeyResponseSchema, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { testDialect } from "../support/postgres.js";
import { copyPreTenantsSqlite, preTenantsManifest, preTenantsPostgres, preTenantsServerSecret } from "../support/pre-tenants-fixture.js";
import { startTestServer } from "../support/test-server.js";

/** Fields of a verification answer that depend on when it is asked (token buckets refill with time). */
function comparable(answer: Record<string, unknown>, creditsUsedSince: number): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...answer };
  if (copy.rateLimit) {
    const { limit } = copy.rateLimit as { limit: number };
    copy.rateLimit = { limit };
  }
  if (copy.credits) {
    const credits = copy.credits as { remaining: string };
    copy.credits = { ...credits, remaining: String(Number(credits.remaining) - creditsUsedSince) };
  }
  return copy;
}

/**
 * Answers as the release before tenants gave them, once `tenantId` (which it did not have) is
 * checked to be `default` where present and taken out. `where` says which must carry it.
 */
function inDefaultTenant(answer: Record<string, unknown>, label: string, mustCarry: boolean): Record<string, unknown> {
  const { tenantId, ...rest } = answer;
  if (mustCarry) assert.equal(tenantId, "default", `${label} is in the default tenant`);
  else assert.ok(tenantId === undefined || tenantId === "default", `${label} names no other tenant`);
  return rest;
}

const withoutRateLimitTimes = (answer: Record<string, unknown>): Record<string, unknown> =>
  answer.rateLimit ? { ...answer, rateLimit: { limit: (answer.rateLimit as { limit: number }).limit } } : answer;

describe(`migration of a database made by the release before tenants (${testDialect()})`, () => {
  it("answers for every key, token, record, audit event and usage count as that release did, and its admin key still works", async () => {
    const manifest = preTenantsManifest();
    const sqlite = testDialect() === "sqlite" ? copyPreTenantsSqlite() : undefined;
    const postgres = sqlite ? undefined : await preTenantsPostgres();
    const server = await startTestServer(
      { SIGIL_DATABASE_URL: sqlite?.url ?? postgres!.url, SIGIL_SERVER_SECRET: preTenantsServerSecret() },
      // The clock stands where it stood when the fixture was made: expiries and grace periods hold.
      { startTimeMs: manifest.fixtureTimeMs, adminKey: manifest.keys.bootstrap!.credential },
    );
    try {
      const admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: manifest.keys.bootstrap!.credential });
      const anonymous = createSigilClient({ baseUrl: server.grpcUrl });

      // The records, before anything verifies (last use and credits stay as they were).
      for (const [label, { keyId }] of Object.entries(manifest.keys)) {
        const record = toJson(GetKeyResponseSchema, await admin.getKey({ keyId })) as { key: Record<string, unknown> };
        const expected = manifest.records[label] as { key: Record<string, unknown> };
        if (label === "bootstrap") {
          // These calls are the bootstrap key's own uses: its last use is now on the server's clock
          // (which started at the fixture's time), so it lies between the recorded one and now.
          const used = Date.parse(record.key.lastUseTime as string);
          assert.ok(used >= Date.parse(expected.key.lastUseTime as string) && used <= server.now(), `last use of ${label}`);
          record.key.lastUseTime = expected.key.lastUseTime;
        }
        assert.deepEqual({ key: inDefaultTenant(record.key, `key ${label}`, true) }, expected, `GetKey of ${label}`);
      }

      const events: unknown[] = [];
      let pageToken = "";
      do {
        const page = await admin.listAuditEvents({ pageSize: 1000, pageToken });
        events.push(...(toJson(ListAuditEventsResponseSchema, page) as { events: Array<Record<string, unknown>> }).events.map((e) => inDefaultTenant(e, "an audit event", true)));
        pageToken = page.nextPageToken;
      } while (pageToken);
      assert.deepEqual(events, manifest.auditPages.flatMap((p) => p.events), "the audit trail");

      for (const [series, recorded] of Object.entries(manifest.usage)) {
        const range = recorded as { keyId?: string; startTime: string; endTime: string; bucket: string };
        const usage = await admin.getKeyUsage({
          keyId: range.keyId ?? "",
          unattributed: series === "unattributed",
          startTime: timestampFromDate(new Date(range.startTime)),
          endTime: timestampFromDate(new Date(range.endTime)),
          bucket: { seconds: BigInt(parseInt(range.bucket, 10)) },
        });
        assert.deepEqual(toJson(GetKeyUsageResponseSchema, usage), recorded, `usage of ${series}`);
      }

      const signingKeys = (await admin.listSigningKeys({})).signingKeys.map((k) => ({ kid: k.kid, state: k.state }));
      assert.deepEqual(signingKeys, manifest.signingKeys, "the signing keys");

      // Every credential verifies exactly as before, in the same order (credits go down as they did).
      const meteredKey = manifest.keys.billing!.keyId;
      const creditsUsed = manifest.verifications.filter((v) => v.answer.valid === true && v.answer.keyId === meteredKey).length;
      for (const check of manifest.verifications) {
        const answer = await anonymous.verifyKey({
          credential: check.credential,
          clientIp: check.clientIp ?? "",
          requiredScopes: check.requiredScopes ?? [],
          audience: check.audience ?? "",
        });
        const got = withoutRateLimitTimes(inDefaultTenant(toJson(VerifyKeyResponseSchema, answer) as Record<string, unknown>, `the answer for ${check.label}`, answer.valid));
        assert.deepEqual(got, comparable(check.answer, creditsUsed), `VerifyKey of ${check.label}`);
      }

      // The first admin key still administers: it issues a key that verifies, and sees every key.
      const issued = await admin.issueKey({ name: "after the upgrade", owner: "svc:new", scopes: ["new:read"] });
      const check = await anonymous.verifyKey({ credential: issued.secret, requiredScopes: ["new:read"] });
      assert.equal(check.reason, VerifyReason.VALID);
      const listed = await admin.listKeys({ pageSize: 1000 });
      assert.ok(listed.keys.every((k) => k.tenantId === "default"), "every key lands in the default tenant");
      const tenants = await admin.listTenants({});
      assert.deepEqual(tenants.tenants.map((t) => t.tenantId), ["default"], "the migration made the default tenant, and only it");
      assert.deepEqual(
        listed.keys.map((k) => k.keyId).sort(),
        [...Object.values(manifest.keys).map((k) => k.keyId), issued.key!.keyId].sort(),
      );
    } finally {
      await server.close();
      await postgres?.drop();
      if (sqlite) rmSync(sqlite.dir, { recursive: true, force: true });
    }
  });
});
