import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { Code } from "@connectrpc/connect";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { KeyService, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { grpcJsCall, grpcJsClient, grpcJsRawCall } from "../support/grpc-js-call.js";
import { errorOf } from "../support/call-outcome.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

describe("bad input: clear INVALID_ARGUMENT, no crash, no half-written row", () => {
  let server: TestServer;
  let admin: SigilClient;
  before(async () => {
    server = await startTestServer({ SIGIL_MAX_MESSAGE_BYTES: "65536" });
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
  });
  after(() => server.close());

  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ["empty name", { name: "", owner: "o" }, /^name:/],
    ["name too long", { name: "n".repeat(129), owner: "o" }, /^name: must be 1 to 128/],
    ["control characters in name", { name: "a\u0000b", owner: "o" }, /^name:/],
    ["owner with spaces", { name: "n", owner: "svc billing" }, /^owner:/],
    ["bad scope characters", { name: "n", owner: "o", scopes: ["ok", "no spaces"] }, /^scopes\[1\]:/],
    ["too many scopes", { name: "n", owner: "o", scopes: Array.from({ length: 65 }, (_, i) => `s${i}`) }, /^scopes: at most 64/],
    ["too many metadata entries", { name: "n", owner: "o", metadata: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"])) }, /^metadata: at most 32/],
    ["metadata value too long", { name: "n", owner: "o", metadata: { k: "v".repeat(513) } }, /^metadata\["k"\]/],
    ["ttl out of range", { name: "n", owner: "o", expiration: { case: "ttl", value: { seconds: 0n, nanos: 0 } } }, /^ttl:/],
    ["request_id too long", { name: "n", owner: "o", requestId: "r".repeat(129) }, /^request_id:/],
  ];

  for (const [name, request, message] of cases) {
    it(`IssueKey: ${name}`, async () => {
      const before = (await admin.listKeys({ pageSize: 1000 })).keys.length;
      const err = await errorOf(admin.issueKey(request as never));
      assert.equal(err.code, Code.InvalidArgument);
      assert.match(err.rawMessage, message);
      assert.equal((await admin.listKeys({ pageSize: 1000 })).keys.length, before, "no row was written");
    });
  }

  it("bounds VerifyKey and RevokeKey fields", async () => {
    const anon = createSigilClient({ baseUrl: server.grpcUrl });
    assert.equal((await errorOf(anon.verifyKey({ credential: "x".repeat(8193) }))).code, Code.InvalidArgument);
    assert.equal((await errorOf(anon.verifyKey({ credential: "x", requiredScopes: ["bad scope"] }))).code, Code.InvalidArgument);
    assert.equal((await errorOf(anon.verifyKey({ credential: "x", audience: "a".repeat(257) }))).code, Code.InvalidArgument);
    assert.equal((await errorOf(admin.revokeKey({ keyId: "../../etc" }))).code, Code.InvalidArgument);
    assert.equal((await errorOf(admin.revokeKey({ keyId: "0123456789abcdef", reason: "r".repeat(513) }))).code, Code.InvalidArgument);
  });

  it("rejects lookalike keys before storage: malformed is its own answer", async () => {
    const anon = createSigilClient({ baseUrl: server.grpcUrl });
    const real = (await admin.issueKey({ name: "real", owner: "o" })).secret;
    const flipped = real.slice(0, 30) + (real[30] === "a" ? "b" : "a") + real.slice(31);
    for (const credential of ["", "sgl_", "ghp_abc", real.slice(0, -1), real + "x", flipped, real.replace("sgl_", "sgk_")]) {
      const v = await anon.verifyKey({ credential });
      assert.deepEqual([v.valid, v.reason], [false, VerifyReason.MALFORMED], credential.slice(0, 12));
    }
  });

  it("answers undecodable protobuf with INVALID_ARGUMENT and oversized messages with RESOURCE_EXHAUSTED", async () => {
    const client = grpcJsClient(server.grpcUrl);
    const garbage = await grpcJsRawCall(client, "/sigil.v1.KeyService/VerifyKey", Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
    assert.equal(garbage.code, grpc.status.INVALID_ARGUMENT);
    assert.match(garbage.details, /sigil\.v1\.VerifyKeyRequest/);
    const huge = await grpcJsCall(client, KeyService.method.verifyKey, { credential: "x".repeat(100_000) });
    assert.equal(huge.ok ? grpc.status.OK : huge.code, grpc.status.RESOURCE_EXHAUSTED);
    const json = await fetch(`${server.httpUrl}/sigil.v1.KeyService/VerifyKey`, { method: "POST", headers: { "content-type": "application/json" }, body: "{not json" });
    assert.equal(json.status, 400);
    assert.equal(((await json.json()) as { code: string }).code, "invalid_argument");
    const bigJson = await fetch(`${server.httpUrl}/sigil.v1.KeyService/VerifyKey`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ credential: "x".repeat(100_000) }),
    });
    assert.equal(((await bigJson.json()) as { code: string }).code, "resource_exhausted");
    client.close();
  });

  it("is still healthy and serving afterwards", async () => {
    const health = await fetch(`${server.httpUrl}/healthz`);
    assert.deepEqual([health.status, ((await health.json()) as { status: string }).status], [200, "SERVING"]);
    const anon = createSigilClient({ baseUrl: server.grpcUrl });
    const key = (await admin.issueKey({ name: "after", owner: "o" })).secret;
    assert.equal((await anon.verifyKey({ credential: key })).valid, true);
  });
});
