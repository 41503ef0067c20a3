import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { testDialect } from "../support/postgres.js";
import { startTestServer, type TestServer } from "../support/test-server.js";
import { Watch } from "../support/watch-stream.js";

/** Generous under load, yet far below the default 15 s heartbeat that used to be the only check. */
const END_WITHIN_MS = 5000;

describe(`WatchRevocations bounds per key and ends streams whose key stops being allowed (${testDialect()})`, () => {
  let a: TestServer;
  let b: TestServer;
  let admin: SigilClient;
  const watches: Watch[] = [];
  const open = (server: TestServer, credential: string) => {
    const w = new Watch(createSigilClient({ baseUrl: server.grpcUrl }), credential);
    watches.push(w);
    return w;
  };
  const verifierKey = async (name: string, ttlSeconds?: bigint) =>
    admin.issueKey({
      name,
      owner: "svc:verifier",
      scopes: ["sigil:verify", "read"],
      expiration: ttlSeconds === undefined ? { case: undefined } : { case: "ttl", value: { seconds: ttlSeconds, nanos: 0 } },
    });

  before(async () => {
    a = await startTestServer();
    // A second instance of the deployment: changes made on `a` reach it through the change feed.
    b = await startTestServer({}, { join: a });
    admin = createSigilClient({ baseUrl: a.grpcUrl, adminKey: a.adminKey });
  });
  after(async () => {
    for (const w of watches) w.close();
    await b.close();
    await a.close();
  });

  it("lets one key hold at most SIGIL_WATCH_STREAMS_PER_KEY (default 8) streams; other keys still get theirs", async () => {
    const greedy = await verifierKey("greedy verifier");
    const held = Array.from({ length: 8 }, () => open(a, greedy.secret));
    for (const w of held) await w.next();
    const refused = await open(a, greedy.secret).error();
    assert.equal(refused.code, Code.ResourceExhausted);
    assert.match(refused.message, /already holds 8 WatchRevocations streams/);
    assert.ok(!refused.message.includes(greedy.secret.slice(-20)), "no secret in the error");
    // An honest verifier is not locked out.
    const honest = await verifierKey("honest verifier");
    assert.deepEqual((await open(a, honest.secret).next()).revocations, []);
    // The bound is per process: the other instance has its own.
    await open(b, greedy.secret).next();
    // A closed stream frees its place.
    held[0]!.close();
    const deadline = Date.now() + END_WITHIN_MS;
    for (;;) {
      const again = open(a, greedy.secret);
      try {
        await again.next(1000);
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  });

  const changes: Array<[string, (keyId: string) => Promise<unknown>, RegExp]> = [
    ["revoked", (keyId) => admin.revokeKey({ keyId, reason: "decommissioned" }), /REVOKED/],
    ["disabled", (keyId) => admin.updateKey({ key: { keyId, enabled: false }, updateMask: { paths: ["enabled"] } }), /DISABLED/],
    ["stripped of sigil:verify", (keyId) => admin.updateKey({ key: { keyId, scopes: ["read"] }, updateMask: { paths: ["scopes"] } }), /lacks the sigil:verify/],
    [
      "given an expiry two seconds away",
      (keyId) => admin.updateKey({ key: { keyId, expireTime: { seconds: BigInt(Math.floor(Date.now() / 1000) + 2), nanos: 0 } }, updateMask: { paths: ["expire_time"] } }),
      /EXPIRED/,
    ],
  ];
  for (const [what, change, reason] of changes) {
    for (const where of ["the same instance", "another instance"] as const) {
      it(`ends the stream (PERMISSION_DENIED) once its key is ${what}, when the change is made on ${where}`, async () => {
        const key = await verifierKey(`verifier ${what} ${where}`);
        const watch = open(where === "the same instance" ? a : b, key.secret);
        await watch.next();
        await change(key.key!.keyId);
        const started = Date.now();
        const err = await watch.error(END_WITHIN_MS + 2000);
        assert.equal(err.code, Code.PermissionDenied, err.message);
        assert.match(err.message, reason);
        assert.ok(Date.now() - started <= END_WITHIN_MS + 2000, `ended after ${Date.now() - started} ms`);
        assert.ok(!err.message.includes(key.secret.slice(-20)), "no secret in the error");
      });
    }
  }

  it("ends the stream when its key reaches its expiry, without any change to wait for", async () => {
    const key = await verifierKey("short-lived verifier", 2n);
    const watch = open(b, key.secret);
    await watch.next();
    const err = await watch.error(END_WITHIN_MS + 2000);
    assert.equal(err.code, Code.PermissionDenied, err.message);
    assert.match(err.message, /EXPIRED/);
  });

  it("keeps the stream of a key whose unrelated settings change", async () => {
    const key = await verifierKey("renamed verifier");
    const watch = open(b, key.secret);
    await watch.next();
    await admin.updateKey({ key: { keyId: key.key!.keyId, name: "renamed" }, updateMask: { paths: ["name"] } });
    const other = (await admin.issueKey({ name: "to revoke", owner: "svc:x" })).key!.keyId;
    await admin.revokeKey({ keyId: other, reason: "after the rename" });
    assert.deepEqual((await watch.until([other])).seen, [other], "the stream lives on and delivers later revocations");
  });
});
