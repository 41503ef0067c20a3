import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { openDatabase } from "../../src/store/open-database.js";
import { ImportKeyRequestSchema, type ImportKeyRequest } from "../../clients/typescript/src/gen/sigil/v1/key_import_pb.js";
import { KeyStatus } from "../../clients/typescript/src/gen/sigil/v1/key_pb.js";
import { CredentialKind, TokenFormat, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { codeOf, errorOf } from "../support/call-outcome.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

/** A key of the "old system": any format but Sigil's. */
const legacyKey = () => `sk_live_${randomBytes(24).toString("base64url")}`;
const sha256Hex = (s: string) => createHash("sha256").update(s).digest("hex");

describe("ImportKey and BatchImportKeys through the server", () => {
  let server: TestServer;
  let admin: SigilClient;
  let anon: SigilClient;
  before(async () => {
    server = await startTestServer();
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    anon = createSigilClient({ baseUrl: server.grpcUrl });
  });
  after(() => server.close());

  type ImportFields = Pick<Exclude<Parameters<SigilClient["importKey"]>[0], ImportKeyRequest>, "name" | "owner" | "scopes" | "metadata" | "credits" | "allowedNetworks">;
  const rawImport = (raw: string, extra: ImportFields = {}) =>
    create(ImportKeyRequestSchema, { keyMaterial: { case: "rawKey", value: raw }, name: "legacy", owner: "svc:legacy", scopes: ["read"], ...extra });
  const verify = async (credential: string, extra: { clientIp?: string } = {}) => {
    const r = await anon.verifyKey({ credential, ...extra });
    return { valid: r.valid, reason: VerifyReason[r.reason], kind: CredentialKind[r.kind], keyId: r.keyId, owner: r.owner, scopes: r.scopes, metadata: r.metadata };
  };

  /** Every row of every table, as text, and (SQLite) the raw bytes of every file in the data dir. */
  async function storedText(): Promise<string> {
    const { db } = openDatabase(server.databaseUrl);
    try {
      const tables = ["keys", "change_feed", "audit_events", "issue_requests", "signing_keys"] as const;
      const dumps = await Promise.all(tables.map((t) => db.selectFrom(t).selectAll().execute()));
      const files = readdirSync(server.dataDir).map((f) => readFileSync(path.join(server.dataDir, f)).toString("latin1"));
      return JSON.stringify(dumps) + files.join("");
    } finally {
      await db.destroy();
    }
  }

  it("imports a raw key that then verifies like any other key, storing neither it nor its SHA-256", async () => {
    const raw = legacyKey();
    const r = await admin.importKey(rawImport(raw, { metadata: { origin: "billing-v1" } }));
    const key = r.key!;
    assert.match(key.keyId, /^[0-9A-Za-z]{16}$/);
    assert.deepEqual([key.imported, key.prefix, KeyStatus[key.status], key.owner, key.scopes], [true, "", "ACTIVE", "svc:legacy", ["read"]]);
    assert.deepEqual([key.secrets.length, key.secrets[0]!.imported, key.secrets[0]!.hint], [1, true, ""]);

    const v = await verify(raw);
    assert.deepEqual(
      [v.valid, v.reason, v.kind, v.keyId, v.owner, v.scopes, v.metadata],
      [true, "VALID", "API_KEY", key.keyId, "svc:legacy", ["read"], { origin: "billing-v1" }],
    );
    // A near miss is just unknown, and names no key.
    const changed = raw.slice(0, -1) + (raw.endsWith("x") ? "y" : "x");
    assert.deepEqual([(await verify(changed)).reason, (await verify(changed)).keyId], ["NOT_FOUND", ""]);

    const stored = await storedText();
    for (const form of [raw, sha256Hex(raw), createHash("sha256").update(raw).digest("base64")]) {
      assert.ok(!stored.includes(form), "the key string and its plain SHA-256 are not stored");
      assert.ok(!server.logs.some((l) => l.includes(form)), "nor logged");
    }
  });

  it("imports by SHA-256 only (systems that kept hashes), and the raw key verifies", async () => {
    const raw = legacyKey();
    const r = await admin.importKey(create(ImportKeyRequestSchema, { keyMaterial: { case: "rawKeySha256", value: sha256Hex(raw).toUpperCase() }, name: "hashed", owner: "svc:legacy" }));
    assert.deepEqual([(await verify(raw)).valid, (await verify(raw)).keyId], [true, r.key!.keyId]);
  });

  it("refuses a key already under management (ALREADY_EXISTS), by raw value or by hash", async () => {
    const raw = legacyKey();
    const first = await admin.importKey(rawImport(raw));
    for (const again of [rawImport(raw), create(ImportKeyRequestSchema, { keyMaterial: { case: "rawKeySha256", value: sha256Hex(raw) }, name: "x", owner: "o" })]) {
      const err = await errorOf(admin.importKey(again));
      assert.equal(err.code, Code.AlreadyExists);
      assert.ok(err.rawMessage.includes(first.key!.keyId) && !err.rawMessage.includes(raw));
    }
  });

  it("refuses malformed imports with INVALID_ARGUMENT, writing nothing and quoting no key", async () => {
    const sigilKey = (await admin.issueKey({ name: "native", owner: "svc:n", scopes: ["read"] })).secret;
    const jwt = (await anon.deriveToken({ credential: sigilKey })).token;
    const macaroon = (await anon.deriveToken({ credential: sigilKey, format: TokenFormat.MACAROON })).token;
    const before = (await admin.listKeys({ pageSize: 1000 })).keys.length;
    const cases: Array<[ImportKeyRequest, RegExp]> = [
      [rawImport("short"), /raw_key: must be 8 to 512/],
      [rawImport("has a space in it"), /raw_key: must be 8 to 512/],
      [rawImport("x".repeat(513)), /raw_key: must be 8 to 512/],
      [rawImport("tab\there-and-more"), /raw_key/],
      [rawImport(sigilKey), /Sigil's own key format/],
      [rawImport(`sgl_${"a".repeat(20)}`), /Sigil's own key format/],
      [rawImport(jwt), /is a token/],
      [rawImport(macaroon), /is a token/],
      [create(ImportKeyRequestSchema, { keyMaterial: { case: "rawKeySha256", value: "abc" }, name: "x", owner: "o" }), /raw_key_sha256: must be 64 hex/],
      [create(ImportKeyRequestSchema, { name: "x", owner: "o" }), /key_material/],
      [rawImport(legacyKey(), { name: "" }), /name/],
      [rawImport(legacyKey(), { scopes: ["bad scope"] }), /scopes\[0\]/],
      [rawImport(legacyKey(), { allowedNetworks: ["10.0.0.0/40"] }), /allowed_networks\[0\]/],
    ];
    for (const [req, message] of cases) {
      const err = await errorOf(admin.importKey(req));
      assert.equal(err.code, Code.InvalidArgument, String(message));
      assert.match(err.rawMessage, message);
      if (req.keyMaterial.case === "rawKey" && req.keyMaterial.value.length >= 8) assert.ok(!err.rawMessage.includes(req.keyMaterial.value));
    }
    assert.equal((await admin.listKeys({ pageSize: 1000 })).keys.length, before);
    assert.equal(await codeOf(anon.importKey(rawImport(legacyKey()))), Code.Unauthenticated);
  });

  it("keeps garbage away from storage: typo'd Sigil keys and implausible strings are MALFORMED, unknown ones NOT_FOUND", async () => {
    assert.equal((await verify(`sgl_${"A".repeat(60)}`)).reason, "MALFORMED");
    assert.equal((await verify("short")).reason, "MALFORMED");
    assert.equal((await verify("with space inside it")).reason, "MALFORMED");
    assert.equal((await verify("y".repeat(600))).reason, "MALFORMED");
    assert.deepEqual([(await verify(legacyKey())).reason, (await verify(legacyKey())).keyId], ["NOT_FOUND", ""]);
  });

  it("imports 1,000 keys in one batch with a result per item, in order, bad and duplicate items failing alone", async () => {
    const existing = legacyKey();
    await admin.importKey(rawImport(existing));
    const raws = Array.from({ length: 1000 }, () => legacyKey());
    const requests = raws.map((raw, i) => rawImport(raw, { name: `batch ${i}`, metadata: { row: String(i) } }));
    requests[10] = rawImport("bad key with spaces");
    requests[20] = rawImport(existing);
    requests[30] = rawImport(raws[29]!);
    requests[40] = rawImport(legacyKey(), { owner: "" });
    const r = await admin.batchImportKeys({ requests });
    assert.equal(r.results.length, 1000);
    const failures = r.results.flatMap((x, i) => (x.result.case === "error" ? [[i, x.result.value.code]] : []));
    assert.deepEqual(failures, [
      [10, Code.InvalidArgument],
      [20, Code.AlreadyExists],
      [30, Code.AlreadyExists],
      [40, Code.InvalidArgument],
    ]);
    const errorAt = (i: number) => (r.results[i]!.result.case === "error" ? r.results[i]!.result.value.message : "");
    assert.match(errorAt(10), /^requests\[10\]\.raw_key/);
    assert.match(errorAt(40), /^requests\[40\]\.owner/);
    for (const i of [0, 29, 500, 999]) {
      const result = r.results[i]!.result;
      assert.equal(result.case, "key");
      const key = result.case === "key" ? result.value : undefined;
      assert.deepEqual([key!.name, key!.metadata], [`batch ${i}`, { row: String(i) }]);
      assert.deepEqual([(await verify(raws[i]!)).valid, (await verify(raws[i]!)).keyId], [true, key!.keyId]);
    }
    assert.equal((await verify(raws[10]!)).reason, "NOT_FOUND", "the item replaced by a bad one was not imported");
    assert.equal(await codeOf(admin.batchImportKeys({ requests: [...requests, rawImport(legacyKey())] })), Code.InvalidArgument);
    assert.equal(await codeOf(admin.batchImportKeys({ requests: [] })), Code.InvalidArgument);
  });

  it("manages an imported key like any other: usage controls, disable, derive, rotate with grace, self-revoke", async () => {
    const raw = legacyKey();
    const { key } = await admin.importKey(rawImport(raw, { credits: { remaining: 2n }, allowedNetworks: ["10.0.0.0/8"] }));
    const keyId = key!.keyId;
    assert.equal((await verify(raw, { clientIp: "192.0.2.1" })).reason, "CLIENT_NETWORK_NOT_ALLOWED");
    assert.equal((await verify(raw, { clientIp: "10.0.0.1" })).reason, "VALID");
    assert.equal((await verify(raw, { clientIp: "10.0.0.1" })).reason, "VALID");
    assert.equal((await verify(raw, { clientIp: "10.0.0.1" })).reason, "USAGE_EXHAUSTED");
    await admin.updateKey({ key: { keyId }, updateMask: { paths: ["credits", "allowed_networks"] } });

    await admin.updateKey({ key: { keyId, enabled: false }, updateMask: { paths: ["enabled"] } });
    assert.equal((await verify(raw)).reason, "DISABLED");
    await admin.updateKey({ key: { keyId, enabled: true }, updateMask: { paths: ["enabled"] } });

    const jwt = (await anon.deriveToken({ credential: raw })).token;
    assert.deepEqual([(await verify(jwt)).valid, (await verify(jwt)).keyId], [true, keyId]);

    // Rotation moves the key to a Sigil key string; the imported one lasts through the grace period.
    const rotated = await admin.rotateKey({ keyId, gracePeriod: durationFromMs(60_000) });
    assert.match(rotated.secret, new RegExp(`^sgl_${keyId}_`));
    assert.deepEqual(rotated.key!.secrets.map((s) => [s.current, s.imported]), [[true, false], [false, true]]);
    assert.equal((await verify(raw)).valid, true);
    assert.equal((await verify(rotated.secret)).valid, true);
    server.advance(61_000);
    assert.equal((await verify(raw)).reason, "NOT_FOUND");
    assert.equal((await verify(rotated.secret)).reason, "VALID");

    // An imported key's holder can revoke it with the imported string itself.
    const other = legacyKey();
    const otherKey = (await admin.importKey(rawImport(other))).key!;
    const holder = createSigilClient({ baseUrl: server.grpcUrl, adminKey: other });
    assert.equal(KeyStatus[(await holder.revokeKey({ keyId: otherKey.keyId, reason: "leaked" })).key!.status], "REVOKED");
    assert.equal((await verify(other)).reason, "REVOKED");
    // Revocation is final: the string cannot be imported again either.
    assert.equal(await codeOf(admin.importKey(rawImport(other))), Code.AlreadyExists);
  });
});
