import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { ImportKeyRequestSchema } from "../../clients/typescript/src/gen/sigil/v1/key_import_pb.js";
import { VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { codeOf, errorOf } from "../support/call-outcome.js";
import { testDialect } from "../support/postgres.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

/** Issue #9 item 9: imported key strings (possibly short) can neither hold Sigil's roles nor be guessed fast. */

const legacyKey = () => `legacy_${randomBytes(12).toString("base64url")}`;
const rawImport = (raw: string, scopes: string[]) =>
  create(ImportKeyRequestSchema, { keyMaterial: { case: "rawKey", value: raw }, name: "legacy", owner: "svc:legacy", scopes });
const updateScopes = (keyId: string, scopes: string[]) => ({ key: { keyId, scopes }, updateMask: { paths: ["scopes"] } });

describe(`imported keys hold no sigil: scopes (${testDialect()})`, () => {
  let server: TestServer;
  let admin: SigilClient;
  before(async () => {
    server = await startTestServer();
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
  });
  after(() => server.close());

  it("refuses ImportKey and BatchImportKeys items with sigil:admin, sigil:verify or any sigil: scope", async () => {
    for (const scope of ["sigil:admin", "sigil:verify", "sigil:anything-later"]) {
      const err = await errorOf(admin.importKey(rawImport("short123", ["read", scope])));
      assert.equal(err.code, Code.InvalidArgument, err.message);
      assert.match(err.rawMessage, new RegExp(`^scopes: ${scope} cannot be held by an imported key.*rotate it to a Sigil key`));
      assert.ok(!err.message.includes("short123"), "the message never quotes the key string");
    }
    const batch = await admin.batchImportKeys({ requests: [rawImport(legacyKey(), ["read"]), rawImport(legacyKey(), ["sigil:admin"])] });
    assert.equal(batch.results[0]!.result.case, "key");
    assert.equal(batch.results[1]!.result.case, "error");
    const item = batch.results[1]!.result.value as { code: number; message: string };
    assert.equal(item.code, Code.InvalidArgument);
    assert.match(item.message, /^requests\[1\]\.scopes: sigil:admin cannot be held/);
  });

  it("refuses UpdateKey adding one while the key still accepts an imported string; allows it once rotated to a Sigil key", async () => {
    const raw = legacyKey();
    const keyId = (await admin.importKey(rawImport(raw, ["read"]))).key!.keyId;
    const onImported = await errorOf(admin.updateKey(updateScopes(keyId, ["read", "sigil:admin"])));
    assert.equal(onImported.code, Code.FailedPrecondition);
    assert.match(onImported.message, /rotate it to a Sigil key first/);
    // During a rotation's grace period the imported string still verifies: still refused.
    const rotated = await admin.rotateKey({ keyId, gracePeriod: durationFromMs(60_000) });
    const inGrace = await errorOf(admin.updateKey(updateScopes(keyId, ["sigil:verify"])));
    assert.equal(inGrace.code, Code.FailedPrecondition);
    assert.match(inGrace.message, /grace period/);
    // Rotated again at once: only the Sigil key string works; now the role may be granted.
    const sigilKey = (await admin.rotateKey({ keyId, gracePeriod: durationFromMs(0) })).secret;
    assert.notEqual(sigilKey, rotated.secret);
    await admin.updateKey(updateScopes(keyId, ["read", "sigil:admin"]));
    const asAdmin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: sigilKey });
    assert.equal(await codeOf(asAdmin.listKeys({})), "ok");
    // Nothing was written by the refused updates.
    const key = (await admin.getKey({ keyId })).key!;
    assert.deepEqual(key.scopes, ["read", "sigil:admin"]);
  });

  it("never takes an imported string as an admin or verifier credential", async () => {
    const raw = legacyKey();
    await admin.importKey(rawImport(raw, ["read"]));
    const err = await errorOf(createSigilClient({ baseUrl: server.grpcUrl, adminKey: raw }).listKeys({}));
    assert.equal(err.code, Code.Unauthenticated);
    assert.ok(!err.message.includes(raw));
  });
});

describe(`failed guesses of imported strings are throttled per client (${testDialect()})`, () => {
  let server: TestServer;
  let admin: SigilClient;
  let anon: SigilClient;
  let importedKey: string;
  let sigilKey: string;
  before(async () => {
    // The defaults: 20 failures in a row, then one more per second.
    server = await startTestServer();
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    anon = createSigilClient({ baseUrl: server.grpcUrl });
    importedKey = legacyKey();
    await admin.importKey(rawImport(importedKey, ["read"]));
    sigilKey = (await admin.issueKey({ name: "sigil", owner: "svc:s", scopes: ["read"] })).secret;
  });
  after(() => server.close());

  /** The reasons of `n` guesses from `clientIp` (undefined: the caller's own address), 100 per batch. */
  async function guess(n: number, clientIp?: string, client = anon): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (let done = 0; done < n; done += 100) {
      const requests = Array.from({ length: Math.min(100, n - done) }, () => ({ credential: legacyKey(), clientIp: clientIp ?? "" }));
      for (const r of (await client.batchVerifyKeys({ requests })).results) {
        const reason = VerifyReason[r.reason]!;
        counts.set(reason, (counts.get(reason) ?? 0) + 1);
      }
    }
    return counts;
  }
  const reason = async (credential: string, clientIp = "", client = anon) => VerifyReason[(await client.verifyKey({ credential, clientIp })).reason];

  it("throttles a flood from one client while its valid keys and other clients' guesses answer as usual", async () => {
    const flooder = "203.0.113.7";
    // The flooder has used its imported key before.
    assert.equal(await reason(importedKey, flooder), "VALID");
    const flood = await guess(500, flooder);
    const checked = flood.get("NOT_FOUND") ?? 0;
    // 20 at once, then about one a second while the flood runs (generous for a loaded machine).
    assert.ok(checked >= 20 && checked <= 60, `checked ${checked} of 500 guesses: ${[...flood]}`);
    assert.equal(flood.get("CLIENT_THROTTLED"), 500 - checked);
    // Valid traffic of that same client is untouched: its imported key, a Sigil key; one by one and in a batch.
    assert.equal(await reason(importedKey, flooder), "VALID");
    assert.equal(await reason(sigilKey, flooder), "VALID");
    const mixed = await anon.batchVerifyKeys({ requests: [{ credential: importedKey, clientIp: flooder }, { credential: sigilKey, clientIp: flooder }] });
    assert.deepEqual(mixed.results.map((r) => VerifyReason[r.reason]), ["VALID", "VALID"]);
    // Another client's guesses are checked as usual.
    assert.deepEqual([...(await guess(10, "198.51.100.9"))], [["NOT_FOUND", 10]]);
    // The flooder's allowance refills with time.
    server.advance(60_000);
    assert.deepEqual([...(await guess(10, flooder))], [["NOT_FOUND", 10]]);
  });

  it("throttles a caller that sends no client_ip by its address, on the HTTP listener too", async () => {
    for (const client of [createSigilClient({ baseUrl: server.httpUrl, protocol: "connect" })]) {
      server.advance(3_600_000); // a fresh allowance for this caller
      assert.equal(await reason(importedKey, "", client), "VALID");
      const flood = await guess(300, undefined, client);
      assert.ok((flood.get("CLIENT_THROTTLED") ?? 0) >= 240, `throttled ${flood.get("CLIENT_THROTTLED")} of 300: ${[...flood]}`);
      assert.equal(await reason(importedKey, "", client), "VALID");
      assert.equal(await reason(sigilKey, "", client), "VALID");
      // DeriveToken, which also tells whether a string is a key, counts against the same caller.
      const derive = await errorOf(client.deriveToken({ credential: legacyKey() }));
      assert.equal(derive.code, Code.Unauthenticated);
      assert.match(derive.message, /CLIENT_THROTTLED/);
      assert.equal((await client.deriveToken({ credential: importedKey })).token.length > 0, true);
    }
  });

  it("holds a caller that makes up client_ip values to its own allowance (ten times one client's)", async () => {
    server.advance(3_600_000);
    let checked = 0;
    for (let round = 0; round < 6; round++) {
      const requests = Array.from({ length: 100 }, (_, i) => ({ credential: legacyKey(), clientIp: `192.0.2.${(round * 100 + i) % 250}` }));
      checked += (await anon.batchVerifyKeys({ requests })).results.filter((r) => r.reason === VerifyReason.NOT_FOUND).length;
    }
    assert.ok(checked >= 200 && checked <= 260, `checked ${checked} of 600 guesses under made-up client_ips`);
    // The caller's valid traffic still passes.
    assert.equal(await reason(importedKey), "VALID");
  });
});
