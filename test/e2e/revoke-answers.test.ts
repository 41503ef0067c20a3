import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { createSigilClient, KeyStatus, type SigilClient } from "../../clients/typescript/src/index.js";
import { errorOf } from "../support/call-outcome.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

describe("RevokeKey answers: a revoked key is not enabled, and a key may only revoke itself", () => {
  let server: TestServer;
  let clients: Array<[string, SigilClient]>;
  before(async () => {
    server = await startTestServer();
    clients = [
      ["grpc", createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey })],
      ["connect json", createSigilClient({ baseUrl: server.httpUrl, protocol: "connect", useJson: true, adminKey: server.adminKey })],
    ];
  });
  after(() => server.close());

  it("shows enabled=false for a revoked key in RevokeKey, GetKey and ListKeys", async () => {
    for (const [protocol, admin] of clients) {
      const { key } = await admin.issueKey({ name: "soon revoked", owner: `svc:revoked-${protocol.replace(" ", "-")}` });
      const keyId = key!.keyId;
      assert.equal(key!.enabled, true);
      const revoked = await admin.revokeKey({ keyId, reason: "done" });
      assert.deepEqual([revoked.key!.status, revoked.key!.enabled], [KeyStatus.REVOKED, false], protocol);
      const got = await admin.getKey({ keyId });
      assert.deepEqual([got.key!.status, got.key!.enabled], [KeyStatus.REVOKED, false], protocol);
      const listed = (await admin.listKeys({ owner: key!.owner })).keys;
      assert.deepEqual(listed.map((k) => [k.keyId, k.enabled]), [[keyId, false]], protocol);
    }
  });

  it("refuses a non-admin key revoking another key with PERMISSION_DENIED saying why", async () => {
    for (const [protocol, admin] of clients) {
      const mine = await admin.issueKey({ name: "mine", owner: "svc:self" });
      const other = await admin.issueKey({ name: "other", owner: "svc:self" });
      const asMine = { headers: { authorization: `Bearer ${mine.secret}` } };
      const err = await errorOf(admin.revokeKey({ keyId: other.key!.keyId }, asMine));
      assert.equal(err.code, Code.PermissionDenied, protocol);
      assert.equal(err.rawMessage, `a key may only revoke itself: key ${mine.key!.keyId} cannot revoke key ${other.key!.keyId} (that needs an admin key)`, protocol);
      assert.ok(!err.rawMessage.includes(mine.secret.slice(21)), "no secret in the message");
      assert.equal((await admin.getKey({ keyId: other.key!.keyId })).key!.status, KeyStatus.ACTIVE, "the other key was not revoked");
      // A credential that is not a valid key stays UNAUTHENTICATED; its own key it may revoke.
      const wrong = mine.secret.slice(0, -1) + (mine.secret.endsWith("x") ? "y" : "x");
      assert.equal((await errorOf(admin.revokeKey({ keyId: other.key!.keyId }, { headers: { authorization: `Bearer ${wrong}` } }))).code, Code.Unauthenticated);
      assert.equal((await admin.revokeKey({ keyId: mine.key!.keyId }, asMine)).key!.status, KeyStatus.REVOKED);
    }
  });
});
