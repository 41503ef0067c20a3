import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { createSigilClient, TokenFormat, type SigilClient } from "../../clients/typescript/src/index.js";
import { KeyService, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { codeOf, errorOf } from "../support/call-outcome.js";
import { runCli } from "../support/cli-process.js";
import { grpcJsClient, grpcJsRawCall } from "../support/grpc-js-call.js";
import { protocolClients } from "../support/protocol-clients.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

const BUF = fileURLToPath(new URL("../../../node_modules/.bin/buf", import.meta.url));
/** What `--mode verify` serves (transport/surface.ts); everything else of KeyService is admin. */
const VERIFY_METHODS = ["VerifyKey", "BatchVerifyKeys", "DeriveToken", "GetJwks", "WatchRevocations", "RevokeKey"];
const ADMIN_METHODS = KeyService.methods.filter((m) => !VERIFY_METHODS.includes(m.name));

async function listMethods(grpcUrl: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--list-methods", grpcUrl], { encoding: "utf8" });
  return stdout.split("\n").filter((l) => l.length > 0).sort();
}

describe("SIGIL_MODE=verify: the verification surface beside an admin instance on one database", () => {
  let adminServer: TestServer;
  let verifyServer: TestServer;
  let clients: Record<string, SigilClient>;

  before(async () => {
    adminServer = await startTestServer();
    verifyServer = await startTestServer({ SIGIL_MODE: "verify" }, { join: adminServer });
    // The joiner holds the admin instance's admin key: every call below carries it.
    clients = Object.fromEntries(protocolClients(verifyServer));
  });
  after(async () => {
    await verifyServer.close();
    await adminServer.close();
  });

  it("admin RPCs answer UNIMPLEMENTED on both listeners, over every protocol, even with an admin key", async () => {
    assert.ok(ADMIN_METHODS.length >= 10, ADMIN_METHODS.map((m) => m.name).join(","));
    for (const [protocol, client] of Object.entries(clients)) {
      for (const method of ADMIN_METHODS) {
        const call = (client as unknown as Record<string, (req: object) => Promise<unknown>>)[method.localName]!({});
        assert.equal(await codeOf(call), Code.Unimplemented, `${method.name} over ${protocol}`);
      }
    }
    // Plain JSON over HTTP (curl): Connect's error body.
    const res = await fetch(`${verifyServer.httpUrl}/sigil.v1.KeyService/IssueKey`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${adminServer.adminKey}` },
      body: JSON.stringify({ name: "x", owner: "y" }),
    });
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { code: string }).code, "unimplemented");
    // Over grpc-js, before the request is even decoded.
    const raw = grpcJsClient(verifyServer.grpcUrl);
    try {
      const garbage = await grpcJsRawCall(raw, "/sigil.v1.KeyService/ListKeys", Buffer.from([0xff, 0xff, 0xff]));
      assert.equal(garbage.code, grpc.status.UNIMPLEMENTED);
    } finally {
      raw.close();
    }
    // Nothing was written: the admin instance lists only its first admin key.
    const admin = createSigilClient({ baseUrl: adminServer.grpcUrl, adminKey: adminServer.adminKey });
    assert.equal((await admin.listKeys({})).keys.length, 1);
  });

  it("reflection lists only the served methods (buf curl --list-methods); the admin instance lists all", async () => {
    const served = (await listMethods(verifyServer.grpcUrl)).filter((m) => m.startsWith("sigil."));
    assert.deepEqual(served, VERIFY_METHODS.map((m) => `sigil.v1.KeyService/${m}`).sort());
    const everything = (await listMethods(adminServer.grpcUrl)).filter((m) => m.startsWith("sigil."));
    assert.deepEqual(everything, KeyService.methods.map((m) => `sigil.v1.KeyService/${m.name}`).sort());
    // Health and reflection stay.
    assert.ok((await listMethods(verifyServer.grpcUrl)).includes("grpc.health.v1.Health/Check"));
  });

  it("serves verification, derivation, the JWKS, WatchRevocations and health", async () => {
    const admin = createSigilClient({ baseUrl: adminServer.grpcUrl, adminKey: adminServer.adminKey });
    const { secret } = await admin.issueKey({ name: "agent", owner: "agent:verify", scopes: ["read"] });
    const watcher = (await admin.issueKey({ name: "watcher", owner: "svc:watch", scopes: ["sigil:verify"] })).secret;
    for (const [protocol, client] of Object.entries(clients)) {
      assert.equal((await client.verifyKey({ credential: secret })).valid, true, protocol);
      const { results } = await client.batchVerifyKeys({ requests: [{ credential: secret }, { credential: "sgl_nope" }] });
      assert.deepEqual(results.map((r) => r.valid), [true, false], protocol);
      for (const format of [TokenFormat.JWT, TokenFormat.MACAROON]) {
        const { token } = await client.deriveToken({ credential: secret, format });
        assert.equal((await client.verifyKey({ credential: token })).valid, true, `${protocol} ${TokenFormat[format]}`);
      }
      assert.equal((await client.getJwks({})).keys.length, 1, protocol);
    }
    const abort = new AbortController();
    const stream = clients.grpc!.watchRevocations({}, { signal: abort.signal, headers: { authorization: `Bearer ${watcher}` } });
    for await (const first of stream) {
      assert.ok(first.cursor);
      break;
    }
    abort.abort();
    const jwks = (await (await fetch(`${verifyServer.httpUrl}/.well-known/jwks.json`)).json()) as { keys: unknown[] };
    assert.equal(jwks.keys.length, 1);
    assert.equal(((await (await fetch(`${verifyServer.httpUrl}/healthz`)).json()) as { status: string }).status, "SERVING");
  });

  it("RevokeKey is self-revocation only: an admin key (or any other key) revoking another key is PERMISSION_DENIED", async () => {
    const admin = createSigilClient({ baseUrl: adminServer.grpcUrl, adminKey: adminServer.adminKey });
    const victim = await admin.issueKey({ name: "victim", owner: "svc:victim", scopes: ["read"] });
    const other = await admin.issueKey({ name: "other", owner: "svc:other", scopes: ["read"] });
    const victimId = victim.key!.keyId;
    for (const [protocol, client] of Object.entries(clients)) {
      const denied = await errorOf(client.revokeKey({ keyId: victimId, reason: "not mine" }));
      assert.equal(denied.code, Code.PermissionDenied, protocol);
      assert.match(denied.rawMessage, /verify mode.*only a key revoking itself/);
    }
    const holder = createSigilClient({ baseUrl: verifyServer.grpcUrl, adminKey: other.secret });
    assert.equal(await codeOf(holder.revokeKey({ keyId: victimId })), Code.PermissionDenied);
    const anon = createSigilClient({ baseUrl: verifyServer.grpcUrl });
    assert.equal(await codeOf(anon.revokeKey({ keyId: victimId })), Code.Unauthenticated);
    assert.equal(await codeOf(anon.revokeKey({ keyId: "not a key id" })), Code.InvalidArgument);
    // A wrong secret for the right key id is refused by the service behind the guard.
    const forged = victim.secret.slice(0, -8) + (victim.secret.endsWith("AAAAAAAA") ? "BBBBBBBB" : "AAAAAAAA");
    const forger = createSigilClient({ baseUrl: verifyServer.grpcUrl, adminKey: forged });
    assert.notEqual(await codeOf(forger.revokeKey({ keyId: victimId })), "ok");
    assert.equal((await anon.verifyKey({ credential: victim.secret })).valid, true, "still valid after the refused attempts");

    // The holder revokes its own key on the verify instance.
    const self = createSigilClient({ baseUrl: verifyServer.httpUrl, protocol: "connect", adminKey: victim.secret });
    const revoked = await self.revokeKey({ keyId: victimId, reason: "leaked" });
    assert.equal(revoked.key?.keyId, victimId);
    assert.equal(VerifyReason[(await anon.verifyKey({ credential: victim.secret })).reason], "REVOKED");
    // The admin instance revokes any key, as before.
    await admin.revokeKey({ keyId: other.key!.keyId });
  });

  it("the CLI pointed at a verify instance explains the UNIMPLEMENTED it gets", async () => {
    const keyFile = path.join(verifyServer.dataDir, "admin-copy.key");
    writeFileSync(keyFile, adminServer.adminKey, { mode: 0o600 });
    const run = await runCli(["keys", "list", "--server", verifyServer.grpcUrl, "--admin-key-file", keyFile]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^sigil: UNIMPLEMENTED: .*--mode verify serves no admin commands/);
    assert.equal(run.stderr.trim().split("\n").length, 1);
    assert.ok(!run.stderr.includes(adminServer.adminKey));
  });
});
