import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { codeOf } from "../support/call-outcome.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

describe("admin authentication", () => {
  let server: TestServer;
  let admin: SigilClient;
  before(async () => {
    server = await startTestServer();
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
  });
  after(() => server.close());

  it("refuses admin RPCs without a credential (UNAUTHENTICATED) on both listeners", async () => {
    for (const [baseUrl, protocol] of [[server.grpcUrl, "grpc"], [server.httpUrl, "connect"]] as const) {
      const anon = createSigilClient({ baseUrl, protocol });
      assert.equal(await codeOf(anon.issueKey({ name: "x", owner: "o" })), Code.Unauthenticated);
      assert.equal(await codeOf(anon.listKeys({})), Code.Unauthenticated);
      assert.equal(await codeOf(anon.getKey({ keyId: "0123456789abcdef" })), Code.Unauthenticated);
      assert.equal(await codeOf(anon.revokeKey({ keyId: "0123456789abcdef" })), Code.Unauthenticated);
    }
  });

  it("refuses a malformed, unknown or revoked admin key (UNAUTHENTICATED)", async () => {
    const garbage = createSigilClient({ baseUrl: server.grpcUrl, adminKey: "not-a-key" });
    assert.equal(await codeOf(garbage.listKeys({})), Code.Unauthenticated);
    const second = await admin.issueKey({ name: "second admin", owner: "ops", scopes: ["sigil:admin"] });
    const secondClient = createSigilClient({ baseUrl: server.grpcUrl, adminKey: second.secret });
    assert.equal(await codeOf(secondClient.listKeys({})), "ok");
    await admin.revokeKey({ keyId: second.key!.keyId, reason: "rotated out" });
    assert.equal(await codeOf(secondClient.listKeys({})), Code.Unauthenticated);
    // A well-formed key with the wrong secret is as unknown as a made-up one.
    const wrongSecret = server.adminKey.slice(0, 21) + "0".repeat(43);
    assert.equal(await codeOf(createSigilClient({ baseUrl: server.grpcUrl, adminKey: wrongSecret }).listKeys({})), Code.Unauthenticated);
  });

  it("refuses a valid key without the admin scope (PERMISSION_DENIED)", async () => {
    const user = await admin.issueKey({ name: "user", owner: "svc:a", scopes: ["read"] });
    const asUser = createSigilClient({ baseUrl: server.grpcUrl, adminKey: user.secret });
    assert.equal(await codeOf(asUser.issueKey({ name: "x", owner: "o" })), Code.PermissionDenied);
    // Revoking another key needs admin; revoking its own key is self-revocation (key-lifecycle.test.ts).
    const other = await admin.issueKey({ name: "other", owner: "svc:b" });
    assert.equal(await codeOf(asUser.revokeKey({ keyId: other.key!.keyId })), Code.PermissionDenied);
  });

  it("lets anyone call VerifyKey and GetJwks", async () => {
    const anon = createSigilClient({ baseUrl: server.grpcUrl });
    assert.equal(await codeOf(anon.verifyKey({ credential: "whatever" })), "ok");
    assert.ok((await anon.getJwks({})).keys.length >= 1);
  });
});
