import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { ImportKeyRequestSchema } from "../../clients/typescript/src/gen/sigil/v1/key_import_pb.js";
import { TokenFormat, VerifyReason, type VerifyKeyResponse } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { recordFromRow } from "../../src/keys/key-record.js";
import { verifyingKeyOf } from "../../src/keys/verifying-key.js";
import { findKey } from "../../src/store/key-repository.js";
import { openDatabase, type OpenedDatabase } from "../../src/store/open-database.js";
import { findVerifyingKey } from "../../src/store/verifying-key-repository.js";
import { testDialect } from "../support/postgres.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

const HOUR = 3_600_000;

/** A VerifyKey answer with the parts that differ between two processes by design taken out (times of the rate-limit bucket, credits used). */
function comparable(r: VerifyKeyResponse): unknown {
  return {
    valid: r.valid,
    reason: VerifyReason[r.reason],
    kind: r.kind,
    keyId: r.keyId,
    owner: r.owner,
    tenantId: r.tenantId,
    scopes: r.scopes,
    expireTime: r.expireTime ? String(r.expireTime.seconds) : undefined,
    tokenId: r.tokenId,
    metadata: r.metadata,
    rateLimit: r.rateLimit ? [r.rateLimit.limit, r.rateLimit.remaining] : undefined,
    credits: r.credits ? "metered" : undefined,
  };
}

// The cache holds VerifyingKeys, not whole records: read on a miss by one narrow statement
// (store/verifying-key-repository.ts), or cut from the record this process just wrote. Server
// `hits` issues, rotates and imports the keys, so it has each cached from the write; server `misses`
// shares its database and reads each from the store on first use. Any field the narrow read drops
// or decodes wrongly makes the two answer differently.
describe(`the narrow record of a cache miss (${testDialect()})`, () => {
  let hits: TestServer;
  let misses: TestServer;
  let admin: SigilClient;
  let onHits: SigilClient;
  let onMisses: SigilClient;
  let db: OpenedDatabase;
  before(async () => {
    hits = await startTestServer();
    misses = await startTestServer({}, { join: hits });
    admin = createSigilClient({ baseUrl: hits.grpcUrl, adminKey: hits.adminKey });
    onHits = createSigilClient({ baseUrl: hits.grpcUrl });
    onMisses = createSigilClient({ baseUrl: misses.grpcUrl });
    db = openDatabase(hits.databaseUrl);
    await admin.createTenant({ tenantId: "narrow", displayName: "narrow" });
  });
  after(async () => {
    await db.db.destroy();
    await misses.close();
    await hits.close();
  });

  /** A key with every feature verification reads: tenant, owner, scopes, metadata, expiry, rate limit, credits, networks. */
  const issueFull = async () => {
    const r = await admin.issueKey({
      tenantId: "narrow",
      name: "every feature",
      owner: "svc:narrow",
      scopes: ["read", "write", "orders:refund"],
      metadata: { team: "payments", tier: "gold", note: "ünïcode ✓" },
      expiration: { case: "ttl", value: durationFromMs(10 * HOUR) },
      rateLimit: { requests: 50, window: durationFromMs(HOUR), burst: 20 },
      credits: { remaining: 1000n, refillAmount: 1000n, refillInterval: durationFromMs(24 * HOUR) },
      allowedNetworks: ["10.0.0.0/8", "2001:db8::/32"],
    });
    return { keyId: r.key!.keyId, secret: r.secret };
  };

  /** The same verification on both servers: first the one that has the key cached, then the one that reads it. */
  const both = async (request: Parameters<SigilClient["verifyKey"]>[0]) => {
    const hit = await onHits.verifyKey(request);
    const miss = await onMisses.verifyKey(request);
    return { hit, miss };
  };

  it("answers every verification after a cache miss exactly as after a cache hit, for a key with every feature set", async () => {
    const { secret } = await issueFull();
    const inside = { credential: secret, clientIp: "10.1.2.3", requiredScopes: ["orders:refund"] };
    const first = await both(inside);
    assert.equal(first.hit.valid, true, VerifyReason[first.hit.reason]);
    assert.deepEqual(comparable(first.miss), comparable(first.hit));
    assert.deepEqual(
      [first.miss.owner, first.miss.tenantId, first.miss.metadata, first.miss.rateLimit?.limit, first.miss.rateLimit?.remaining],
      ["svc:narrow", "narrow", { team: "payments", tier: "gold", note: "ünïcode ✓" }, 20, 19],
    );
    assert.equal(first.miss.credits!.remaining, first.hit.credits!.remaining - 1n, "both used the one stored credit balance");
    // The cached narrow record (now a hit on both) answers the same again.
    const second = await both(inside);
    assert.deepEqual(comparable(second.miss), comparable(second.hit));

    // Each check that reads a field of the record fails alike on both.
    const failing: Array<[Parameters<SigilClient["verifyKey"]>[0], string]> = [
      [{ credential: secret, clientIp: "192.168.1.1" }, "CLIENT_NETWORK_NOT_ALLOWED"],
      [{ credential: secret, clientIp: "10.1.2.3", requiredScopes: ["admin"] }, "INSUFFICIENT_SCOPE"],
      [{ credential: secret, clientIp: "10.1.2.3", tenantId: "default" }, "NOT_FOUND"],
    ];
    for (const [request, reason] of failing) {
      const { hit, miss } = await both(request);
      assert.deepEqual([VerifyReason[hit.reason], VerifyReason[miss.reason]], [reason, reason]);
    }

    // Tokens derived from the key check its record (tenant, scopes, expiry) on the server that has not cached it.
    for (const format of [TokenFormat.JWT, TokenFormat.MACAROON]) {
      const token = (await onHits.deriveToken({ credential: secret, format, scopes: ["read"] })).token;
      const { hit, miss } = await both({ credential: token, clientIp: "10.1.2.3" });
      assert.equal(hit.valid, true, VerifyReason[hit.reason]);
      assert.deepEqual(comparable(miss), comparable(hit));
    }
  });

  it("verifies an imported key string (found by its lookup hash) alike after a cache miss", async () => {
    const raw = `sk_live_${randomBytes(24).toString("base64url")}`;
    await admin.importKey(
      create(ImportKeyRequestSchema, { keyMaterial: { case: "rawKey", value: raw }, tenantId: "narrow", name: "legacy", owner: "svc:legacy", scopes: ["read"], metadata: { origin: "v1" } }),
    );
    const { hit, miss } = await both({ credential: raw });
    assert.equal(hit.valid, true, VerifyReason[hit.reason]);
    assert.deepEqual(comparable(miss), comparable(hit));
    assert.deepEqual([miss.owner, miss.metadata], ["svc:legacy", { origin: "v1" }]);
  });

  it("reads, for every shape of key, exactly what the cache keeps of the whole row", async () => {
    const full = await issueFull();
    const rotated = await issueFull();
    await admin.rotateKey({ keyId: rotated.keyId, gracePeriod: durationFromMs(HOUR) });
    const plain = (await admin.issueKey({ name: "plain", owner: "svc:plain", scopes: [] })).key!.keyId;
    const raw = `sk_live_${randomBytes(24).toString("base64url")}`;
    const imported = (await admin.importKey(create(ImportKeyRequestSchema, { keyMaterial: { case: "rawKey", value: raw }, name: "legacy", owner: "svc:legacy", scopes: ["read"] }))).key!.keyId;
    for (const keyId of [full.keyId, rotated.keyId, plain, imported]) {
      const narrow = await findVerifyingKey(db.db, db.dialect, keyId);
      const whole = verifyingKeyOf(recordFromRow((await findKey(db.db, keyId))!));
      assert.deepStrictEqual(narrow, whole, keyId);
      assert.deepStrictEqual(narrow?.allowedNetworks?.cidrs, whole.allowedNetworks?.cidrs);
    }
    assert.equal(await findVerifyingKey(db.db, db.dialect, "0123456789abcdef"), undefined);
  });

  // Last: it moves the second server's clock on for good.
  it("checks a disabled, a revoked, an expired key and a rotated-away secret's grace period from the narrow record", async () => {
    const disabled = await issueFull();
    await admin.updateKey({ key: { keyId: disabled.keyId, enabled: false }, updateMask: { paths: ["enabled"] } });
    const revoked = await issueFull();
    await admin.revokeKey({ keyId: revoked.keyId, reason: "narrow test" });
    for (const [key, reason] of [
      [disabled, "DISABLED"],
      [revoked, "REVOKED"],
    ] as const) {
      const { hit, miss } = await both({ credential: key.secret, clientIp: "10.1.2.3" });
      assert.deepEqual([VerifyReason[hit.reason], VerifyReason[miss.reason]], [reason, reason]);
    }

    const { keyId, secret: old } = await issueFull();
    const rotated = await admin.rotateKey({ keyId, gracePeriod: durationFromMs(HOUR) });
    for (const credential of [old, rotated.secret]) {
      const { hit, miss } = await both({ credential, clientIp: "10.1.2.3" });
      assert.equal(hit.valid, true, VerifyReason[hit.reason]);
      assert.deepEqual(comparable(miss), comparable(hit));
    }
    // The grace period ends on the second server's clock: the narrow record's previous secret carries its end.
    misses.advance(HOUR + 60_000);
    assert.equal(VerifyReason[(await onMisses.verifyKey({ credential: old, clientIp: "10.1.2.3" })).reason], "NOT_FOUND");
    assert.equal((await onMisses.verifyKey({ credential: rotated.secret, clientIp: "10.1.2.3" })).valid, true);
    misses.advance(10 * HOUR);
    assert.equal(VerifyReason[(await onMisses.verifyKey({ credential: rotated.secret, clientIp: "10.1.2.3" })).reason], "EXPIRED");
  });
});
