import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema, durationFromMs, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { KeyStatus } from "../../clients/typescript/src/gen/sigil/v1/key_pb.js";
import { CredentialKind, TokenFormat, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { codeOf, errorOf } from "../support/call-outcome.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

const mask = (...paths: string[]) => create(FieldMaskSchema, { paths });

describe("UpdateKey, RotateKey, BatchVerifyKeys and self-revocation through the server", () => {
  let server: TestServer;
  let admin: SigilClient;
  let anon: SigilClient;
  const advance = (ms: number) => server.advance(ms);
  const serverNow = () => server.now();
  before(async () => {
    // A long flush interval: last_use_time must reach the database only at shutdown or flush.
    server = await startTestServer({ SIGIL_LAST_USE_FLUSH_INTERVAL: "10m" });
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    anon = createSigilClient({ baseUrl: server.grpcUrl });
  });
  after(() => server.close());

  const issue = async (scopes = ["read", "write"]) => {
    const r = await admin.issueKey({ name: "lifecycle", owner: "svc:lifecycle", scopes, metadata: { team: "a" } });
    return { keyId: r.key!.keyId, secret: r.secret };
  };
  const verify = async (credential: string, requiredScopes: string[] = []) => {
    const r = await anon.verifyKey({ credential, requiredScopes });
    return { valid: r.valid, reason: VerifyReason[r.reason], keyId: r.keyId, scopes: r.scopes, metadata: r.metadata };
  };

  it("changes only the fields named in the update mask", async () => {
    const { keyId, secret } = await issue();
    const expireTime = timestampFromMs(serverNow() + 3_600_000);
    const r = await admin.updateKey({
      key: { keyId, name: "renamed", owner: "ignored:not-in-mask", scopes: ["read"], metadata: { team: "b", tier: "gold" }, expireTime },
      updateMask: mask("name", "scopes", "metadata", "expire_time"),
    });
    assert.equal(r.key!.name, "renamed");
    assert.equal(r.key!.owner, "svc:lifecycle");
    assert.deepEqual(r.key!.scopes, ["read"]);
    assert.deepEqual(r.key!.metadata, { team: "b", tier: "gold" });
    assert.equal(Number(r.key!.expireTime!.seconds), Number(expireTime.seconds));
    // The verifier answers with the new settings at once.
    const v = await verify(secret, ["read"]);
    assert.deepEqual([v.valid, v.scopes, v.metadata], [true, ["read"], { team: "b", tier: "gold" }]);
    assert.equal((await verify(secret, ["write"])).reason, "INSUFFICIENT_SCOPE");

    // Only `name` in the mask: the other fields of the message are ignored.
    const renamed = await admin.updateKey({ key: { keyId, name: "again", scopes: [], metadata: {} }, updateMask: mask("name") });
    assert.deepEqual([renamed.key!.name, renamed.key!.scopes, renamed.key!.metadata], ["again", ["read"], { team: "b", tier: "gold" }]);

    // A masked field left unset clears it: no expiry.
    const cleared = await admin.updateKey({ key: { keyId }, updateMask: mask("expire_time") });
    assert.equal(cleared.key!.expireTime, undefined);
    assert.equal((await admin.getKey({ keyId })).key!.expireTime, undefined);
  });

  it("takes the update mask in Connect JSON as curl sends it (camelCase, comma-separated)", async () => {
    const { keyId } = await issue();
    const res = await fetch(`${server.httpUrl}/sigil.v1.KeyService/UpdateKey`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${server.adminKey}` },
      body: JSON.stringify({ key: { keyId, name: "via json", allowedNetworks: ["10.0.0.0/8"], enabled: false }, updateMask: "name,allowedNetworks,enabled" }),
    });
    const body = (await res.json()) as { key: { name: string; allowedNetworks: string[]; status: string; enabled?: boolean } };
    assert.equal(res.status, 200);
    assert.deepEqual([body.key.name, body.key.allowedNetworks, body.key.status, body.key.enabled ?? false], ["via json", ["10.0.0.0/8"], "KEY_STATUS_DISABLED", false]);
  });

  it("extends an expired key's expiry (a correction), which makes it verify again", async () => {
    const r = await admin.issueKey({ name: "short", owner: "svc:x", expiration: { case: "ttl", value: durationFromMs(5000) } });
    advance(10_000);
    assert.equal((await verify(r.secret)).reason, "EXPIRED");
    await admin.updateKey({ key: { keyId: r.key!.keyId, expireTime: timestampFromMs(serverNow() + 3_600_000) }, updateMask: mask("expire_time") });
    assert.equal((await verify(r.secret)).reason, "VALID");
  });

  it("refuses bad masks and bad values with INVALID_ARGUMENT, and changes nothing", async () => {
    const { keyId } = await issue();
    const cases: Array<[string, Parameters<SigilClient["updateKey"]>[0], RegExp]> = [
      ["empty mask", { key: { keyId, name: "x" } }, /update_mask/],
      ["unknown path", { key: { keyId, name: "x" }, updateMask: mask("name", "owner") }, /"owner" cannot be updated/],
      ["secret is not a field", { key: { keyId }, updateMask: mask("secret_hash") }, /cannot be updated/],
      ["bad scope", { key: { keyId, scopes: ["has space"] }, updateMask: mask("scopes") }, /key\.scopes\[0\]/],
      ["past expiry", { key: { keyId, expireTime: timestampFromMs(serverNow() - 1000) }, updateMask: mask("expire_time") }, /expire_time/],
      ["no key", { updateMask: mask("name") }, /key: required/],
      ["bad key id", { key: { keyId: "nope" }, updateMask: mask("name") }, /key\.key_id/],
      ["zero-request rate limit", { key: { keyId, rateLimit: { requests: 0, window: durationFromMs(1000) } }, updateMask: mask("rate_limit") }, /rate_limit\.requests/],
      ["bad network", { key: { keyId, allowedNetworks: ["10.0.0.1/8"] }, updateMask: mask("allowed_networks") }, /host bits.*10\.0\.0\.0\/8/],
    ];
    for (const [what, req, message] of cases) {
      const err = await errorOf(admin.updateKey(req));
      assert.equal(err.code, Code.InvalidArgument, what);
      assert.match(err.rawMessage, message, what);
    }
    const after = (await admin.getKey({ keyId })).key!;
    assert.deepEqual([after.name, after.scopes], ["lifecycle", ["read", "write"]]);
  });

  it("answers NOT_FOUND for an unknown key and FAILED_PRECONDITION for a revoked one (revocation is final)", async () => {
    assert.equal(await codeOf(admin.updateKey({ key: { keyId: "0123456789abcdef", name: "x" }, updateMask: mask("name") })), Code.NotFound);
    const { keyId, secret } = await issue();
    await admin.revokeKey({ keyId, reason: "done" });
    assert.equal(await codeOf(admin.updateKey({ key: { keyId, enabled: true }, updateMask: mask("enabled") })), Code.FailedPrecondition);
    assert.equal(await codeOf(admin.rotateKey({ keyId })), Code.FailedPrecondition);
    assert.equal((await verify(secret)).reason, "REVOKED");
  });

  it("disables a key (own reason code, also for its derived tokens) and enables it again", async () => {
    const { keyId, secret } = await issue();
    const jwt = (await anon.deriveToken({ credential: secret, format: TokenFormat.JWT })).token;
    const macaroon = (await anon.deriveToken({ credential: secret, format: TokenFormat.MACAROON })).token;
    const disabled = await admin.updateKey({ key: { keyId, enabled: false }, updateMask: mask("enabled") });
    assert.deepEqual([disabled.key!.enabled, KeyStatus[disabled.key!.status]], [false, "DISABLED"]);
    for (const credential of [secret, jwt, macaroon]) {
      const v = await verify(credential);
      assert.deepEqual([v.valid, v.reason, v.keyId], [false, "DISABLED", keyId]);
    }
    // A disabled key cannot derive tokens or act for itself.
    assert.equal(await codeOf(anon.deriveToken({ credential: secret })), Code.Unauthenticated);
    const listed = await admin.listKeys({ status: KeyStatus.DISABLED, owner: "svc:lifecycle" });
    assert.ok(listed.keys.some((k) => k.keyId === keyId));
    assert.ok(!(await admin.listKeys({ status: KeyStatus.ACTIVE, owner: "svc:lifecycle" })).keys.some((k) => k.keyId === keyId));

    const enabled = await admin.updateKey({ key: { keyId, enabled: true }, updateMask: mask("enabled") });
    assert.deepEqual([enabled.key!.enabled, KeyStatus[enabled.key!.status]], [true, "ACTIVE"]);
    for (const credential of [secret, jwt, macaroon]) assert.equal((await verify(credential)).reason, "VALID");
  });

  it("rotates: the old secret verifies through the grace period, then stops; GetKey shows both", async () => {
    const { keyId, secret: oldSecret } = await issue();
    const rotated = await admin.rotateKey({ keyId, gracePeriod: durationFromMs(60_000) });
    const newSecret = rotated.secret;
    assert.match(newSecret, new RegExp(`^sgl_${keyId}_[0-9A-Za-z]{49}$`));
    assert.notEqual(newSecret, oldSecret);
    // Same record: id, scopes, metadata.
    assert.deepEqual([rotated.key!.keyId, rotated.key!.scopes, rotated.key!.metadata], [keyId, ["read", "write"], { team: "a" }]);

    const during = (await admin.getKey({ keyId })).key!;
    assert.equal(during.secrets.length, 2, "a rotation in progress shows two secrets");
    const [current, previous] = during.secrets;
    assert.deepEqual([current!.current, current!.hint, current!.expireTime], [true, newSecret.slice(-4), undefined]);
    assert.deepEqual([previous!.current, previous!.hint], [false, oldSecret.slice(-4)]);
    const graceEnd = timestampMs(previous!.expireTime!);
    assert.ok(Math.abs(graceEnd - (serverNow() + 60_000)) < 5_000, "the old secret's end of grace is reported");

    for (const s of [oldSecret, newSecret]) assert.deepEqual([(await verify(s)).valid, (await verify(s)).keyId], [true, keyId]);
    advance(30_000);
    assert.equal((await verify(oldSecret)).valid, true, "still inside the grace period");
    advance(31_000);
    assert.equal((await verify(oldSecret)).reason, "NOT_FOUND", "after the grace period the old secret is just wrong");
    assert.equal((await verify(newSecret)).reason, "VALID");
    assert.equal((await admin.getKey({ keyId })).key!.secrets.length, 1, "rotation finished");
  });

  it("rotates with no grace period: the old secret stops at once; a second rotation ends the first one's grace", async () => {
    const { keyId, secret: first } = await issue();
    const second = (await admin.rotateKey({ keyId })).secret;
    assert.equal((await verify(first)).reason, "NOT_FOUND");
    assert.equal((await verify(second)).reason, "VALID");
    const third = (await admin.rotateKey({ keyId, gracePeriod: durationFromMs(60_000) })).secret;
    const fourth = (await admin.rotateKey({ keyId, gracePeriod: durationFromMs(60_000) })).secret;
    assert.equal((await verify(second)).reason, "NOT_FOUND");
    assert.equal((await verify(third)).reason, "VALID", "the secret current at the last rotation keeps its grace");
    assert.equal((await verify(fourth)).reason, "VALID");
    assert.equal(await codeOf(admin.rotateKey({ keyId, gracePeriod: durationFromMs(31 * 86_400_000) })), Code.InvalidArgument);
    assert.equal(await codeOf(admin.rotateKey({ keyId: "0123456789abcdef" })), Code.NotFound);
  });

  it("keeps tokens derived before a rotation valid (they name the key, not its secret)", async () => {
    const { keyId, secret } = await issue();
    const jwt = (await anon.deriveToken({ credential: secret })).token;
    await admin.rotateKey({ keyId });
    assert.equal((await verify(jwt)).reason, "VALID");
  });

  it("BatchVerifyKeys answers every item in order, each as VerifyKey would", async () => {
    const a = await issue(["read"]);
    const b = await issue(["write"]);
    const revoked = await issue();
    await admin.revokeKey({ keyId: revoked.keyId });
    const jwt = (await anon.deriveToken({ credential: a.secret })).token;
    const requests = [
      { credential: a.secret, requiredScopes: ["read"] },
      { credential: "garbage" },
      { credential: b.secret, requiredScopes: ["read"] },
      { credential: revoked.secret },
      { credential: jwt },
      { credential: b.secret },
    ];
    const r = await anon.batchVerifyKeys({ requests });
    assert.deepEqual(
      r.results.map((x) => [x.valid, VerifyReason[x.reason], x.keyId]),
      [
        [true, "VALID", a.keyId],
        [false, "MALFORMED", ""],
        [false, "INSUFFICIENT_SCOPE", b.keyId],
        [false, "REVOKED", revoked.keyId],
        [true, "VALID", a.keyId],
        [true, "VALID", b.keyId],
      ],
    );
    assert.equal(r.results[4]!.kind, CredentialKind.JWT);
    // A hundred items in order, then the bounds.
    const many = Array.from({ length: 100 }, (_, i) => ({ credential: i % 2 === 0 ? a.secret : b.secret }));
    const hundred = await anon.batchVerifyKeys({ requests: many });
    assert.deepEqual(hundred.results.map((x) => x.keyId), many.map((_, i) => (i % 2 === 0 ? a.keyId : b.keyId)));
    assert.equal(await codeOf(anon.batchVerifyKeys({ requests: [...many, { credential: a.secret }] })), Code.InvalidArgument);
    assert.equal(await codeOf(anon.batchVerifyKeys({ requests: [] })), Code.InvalidArgument);
    const badItem = await errorOf(anon.batchVerifyKeys({ requests: [{ credential: a.secret }, { credential: a.secret, requiredScopes: ["bad scope"] }] }));
    assert.deepEqual([badItem.code, /requests\[1\]\.required_scopes/.test(badItem.rawMessage)], [Code.InvalidArgument, true]);
  });

  it("lets a holder revoke its own key without an admin key, and nothing else", async () => {
    const { keyId, secret } = await issue();
    const other = await issue();
    const holder = createSigilClient({ baseUrl: server.grpcUrl, adminKey: secret });
    // Presenting one key does not allow revoking another.
    assert.equal(await codeOf(holder.revokeKey({ keyId: other.keyId })), Code.PermissionDenied);
    // A wrong secret for the right key id is no authority.
    const forged = createSigilClient({ baseUrl: server.grpcUrl, adminKey: `sgl_${keyId}_${"0".repeat(49)}` });
    assert.equal(await codeOf(forged.revokeKey({ keyId })), Code.Unauthenticated);
    const r = await holder.revokeKey({ keyId, reason: "found in a public repo" });
    assert.deepEqual([KeyStatus[r.key!.status], r.key!.revokeReason], ["REVOKED", "found in a public repo"]);
    assert.equal((await verify(secret)).reason, "REVOKED");
    // Again: the same answer (idempotent), still without an admin key.
    assert.equal(KeyStatus[(await holder.revokeKey({ keyId })).key!.status], "REVOKED");
    assert.equal((await verify(other.secret)).reason, "VALID");
  });

  it("records last_use_time in memory and writes it in batches, not per verification", async () => {
    const { keyId, secret } = await issue();
    assert.equal((await admin.getKey({ keyId })).key!.lastUseTime, undefined);
    const before = serverNow();
    for (let i = 0; i < 20; i++) await verify(secret);
    const shown = (await admin.getKey({ keyId })).key!.lastUseTime;
    assert.ok(shown && timestampMs(shown) >= before - 1000, "GetKey on this process shows the unwritten last use");
    // Nothing written yet: the flush interval is 10 minutes.
    const { openDatabase } = await import("../../src/store/open-database.js");
    const { db } = openDatabase(server.databaseUrl);
    try {
      const row = await db.selectFrom("keys").select("last_use_time").where("key_id", "=", keyId).executeTakeFirstOrThrow();
      assert.equal(row.last_use_time, null);
    } finally {
      await db.destroy();
    }
  });
});

describe("last_use_time reaches the database in batches", () => {
  it("is written at the flush interval, one row update per key, and on shutdown", async () => {
    const { openDatabase } = await import("../../src/store/open-database.js");
    const lastUseOf = async (databaseUrl: string, keyId: string) => {
      const { db } = openDatabase(databaseUrl);
      try {
        return (await db.selectFrom("keys").select("last_use_time").where("key_id", "=", keyId).executeTakeFirstOrThrow()).last_use_time;
      } finally {
        await db.destroy();
      }
    };

    const periodic = await startTestServer({ SIGIL_LAST_USE_FLUSH_INTERVAL: "100ms" });
    try {
      const admin = createSigilClient({ baseUrl: periodic.grpcUrl, adminKey: periodic.adminKey });
      const { key, secret } = await admin.issueKey({ name: "used", owner: "svc:x" });
      const before = Date.now();
      await Promise.all(Array.from({ length: 50 }, () => admin.verifyKey({ credential: secret })));
      let written: number | null = null;
      for (let i = 0; i < 100 && written === null; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        written = await lastUseOf(periodic.databaseUrl, key!.keyId);
      }
      assert.ok(written !== null && written >= Math.floor(before / 1000) * 1000, "written by a periodic flush");
    } finally {
      await periodic.close();
    }

    const atShutdown = await startTestServer({ SIGIL_LAST_USE_FLUSH_INTERVAL: "10m" });
    try {
      const admin = createSigilClient({ baseUrl: atShutdown.grpcUrl, adminKey: atShutdown.adminKey });
      const { key, secret } = await admin.issueKey({ name: "used once", owner: "svc:x" });
      await admin.verifyKey({ credential: secret });
      assert.equal(await lastUseOf(atShutdown.databaseUrl, key!.keyId), null);
      await atShutdown.app.close();
      assert.notEqual(await lastUseOf(atShutdown.databaseUrl, key!.keyId), null, "flushed by a graceful stop");
    } finally {
      await atShutdown.close();
    }
  });
});
