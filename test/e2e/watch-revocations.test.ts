import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { durationFromMs, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary, create } from "@bufbuild/protobuf";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { pruneChangesBefore } from "../../src/store/change-feed-repository.js";
import { openDatabase } from "../../src/store/open-database.js";
import { WatchRevocationsRequestSchema, WatchRevocationsResponseSchema, type WatchRevocationsRequest, type WatchRevocationsResponse } from "../../clients/typescript/src/gen/sigil/v1/revocation_pb.js";
import { grpcJsClient } from "../support/grpc-js-call.js";
import { startTestServer, type TestServer } from "../support/test-server.js";
import { Watch, type WatchInit } from "../support/watch-stream.js";

describe("WatchRevocations", () => {
  let server: TestServer;
  let admin: SigilClient;
  let verifyKey: string;
  const watches: Watch[] = [];
  const open = (client: SigilClient, credential: string, req: WatchInit = {}) => {
    const w = new Watch(client, credential, req);
    watches.push(w);
    return w;
  };

  before(async () => {
    server = await startTestServer();
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    verifyKey = (await admin.issueKey({ name: "resource service", owner: "svc:billing", scopes: ["sigil:verify"] })).secret;
  });
  after(async () => {
    for (const w of watches) w.close();
    await server.close();
  });

  async function issue(name = "watched"): Promise<string> {
    return (await admin.issueKey({ name, owner: "agent:w", scopes: ["read"] })).key!.keyId;
  }
  const revoke = (keyId: string, reason: string) => admin.revokeKey({ keyId, reason });

  it("needs a key with sigil:verify or sigil:admin", async () => {
    const client = createSigilClient({ baseUrl: server.grpcUrl });
    const plain = (await admin.issueKey({ name: "plain", owner: "svc:x", scopes: ["read"] })).secret;
    const cases: Array<[string, Code]> = [
      ["", Code.Unauthenticated],
      ["sgl_notakey", Code.Unauthenticated],
      [plain, Code.PermissionDenied],
    ];
    for (const [credential, code] of cases) {
      const err = await open(client, credential).error();
      assert.equal(err.code, code, `credential ${credential ? "given" : "absent"}: ${err.message}`);
      assert.ok(!err.message.includes(plain), "no secret in the error");
    }
    for (const credential of [verifyKey, server.adminKey]) {
      const first = await open(client, credential).next();
      assert.deepEqual(first.revocations, []);
      assert.ok(first.cursor.length > 0, "the first response comes at once, with a cursor");
    }
  });

  for (const protocol of ["grpc", "connect"] as const) {
    it(`resumes after a dropped stream with its cursor and misses nothing (${protocol})`, async () => {
      const client = createSigilClient({ baseUrl: protocol === "grpc" ? server.grpcUrl : server.httpUrl, protocol });
      const [a, b, c, d] = [await issue(), await issue(), await issue(), await issue()];
      const first = open(client, verifyKey);
      await first.next();
      await revoke(a, "leaked in a log");
      const got = await first.until([a]);
      assert.deepEqual(got.seen, [a]);
      const revocation = got.responses.flatMap((r) => r.revocations)[0]!;
      assert.equal(revocation.reason, "leaked in a log");
      assert.ok(Math.abs(timestampMs(revocation.revokeTime!) - Date.now()) < 60_000);

      // The connection drops; meanwhile more keys are revoked and others issued.
      first.close();
      await revoke(b, "rotated out");
      await issue("noise");
      await revoke(c, "");
      await issue("noise");
      await revoke(d, "agent retired");

      const resumed = open(client, verifyKey, { start: { case: "cursor", value: got.cursor } });
      const after = await resumed.until([b, c, d]);
      assert.deepEqual(after.seen, [b, c, d], "exactly the revocations after the cursor, in order");
      assert.deepEqual(after.responses.flatMap((r) => r.revocations).map((r) => r.reason), ["rotated out", "", "agent retired"]);

      // Resuming again from the newest cursor repeats nothing.
      resumed.close();
      const again = open(client, verifyKey, { start: { case: "cursor", value: after.cursor }, heartbeatInterval: durationFromMs(300) });
      const quiet = await again.next();
      assert.deepEqual(quiet.revocations, []);
      assert.equal(quiet.cursor, after.cursor);
      again.close();
    });
  }

  it("replays keys revoked since start_time, then follows the feed", async () => {
    const client = createSigilClient({ baseUrl: server.grpcUrl });
    const since = Date.now() - 1000;
    const old = await issue();
    await revoke(old, "before the stream");
    const watch = open(client, verifyKey, { start: { case: "startTime", value: timestampFromMs(since) } });
    const replay = await watch.next();
    assert.ok(replay.revocations.some((r) => r.keyId === old), "the replay holds the revocation made before the call");
    assert.ok(replay.revocations.every((r) => timestampMs(r.revokeTime!) >= since));
    assert.ok(replay.cursor);
    const fresh = await issue();
    await revoke(fresh, "after the stream opened");
    assert.deepEqual((await watch.until([fresh])).seen.filter((k) => k === fresh), [fresh]);
  });

  it("sends heartbeats when nothing happens", async () => {
    const client = createSigilClient({ baseUrl: server.httpUrl, protocol: "connect" });
    const watch = open(client, verifyKey, { heartbeatInterval: durationFromMs(200) });
    const first = await watch.next();
    const started = Date.now();
    const beats = [await watch.next(2000), await watch.next(2000)];
    assert.ok(Date.now() - started >= 300, "heartbeats are paced by the interval");
    for (const beat of beats) {
      assert.deepEqual(beat.revocations, []);
      assert.equal(beat.cursor, first.cursor);
    }
  });

  it("rejects bad requests with INVALID_ARGUMENT", async () => {
    const client = createSigilClient({ baseUrl: server.grpcUrl });
    const bad: Array<[WatchInit, RegExp]> = [
      [{ start: { case: "cursor", value: "not a cursor!" } }, /cursor/],
      [{ start: { case: "cursor", value: Buffer.from("v1:-5").toString("base64url") } }, /cursor/],
      [{ start: { case: "cursor", value: "x".repeat(65) } }, /cursor/],
      [{ start: { case: "startTime", value: timestampFromMs(Date.now() - 31 * 86_400_000) } }, /start_time/],
      [{ start: { case: "startTime", value: timestampFromMs(Date.now() + 3_600_000) } }, /start_time/],
      [{ heartbeatInterval: durationFromMs(10) }, /heartbeat_interval/],
      [{ heartbeatInterval: durationFromMs(3_600_000) }, /heartbeat_interval/],
    ];
    for (const [req, message] of bad) {
      const err = await open(client, verifyKey, req).error();
      assert.equal(err.code, Code.InvalidArgument, err.message);
      assert.match(err.message, message);
    }
  });

  it("works for a plain grpc-js client (no Connect code)", async () => {
    const client = grpcJsClient(server.grpcUrl);
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${verifyKey}`);
    const call = client.makeServerStreamRequest(
      "/sigil.v1.KeyService/WatchRevocations",
      (req: WatchRevocationsRequest) => Buffer.from(toBinary(WatchRevocationsRequestSchema, req)),
      (buf: Buffer) => fromBinary(WatchRevocationsResponseSchema, buf),
      create(WatchRevocationsRequestSchema, {}),
      metadata,
    );
    const responses: WatchRevocationsResponse[] = [];
    const keyId = await issue();
    const seen = new Promise<void>((resolve, reject) => {
      call.on("data", (r: WatchRevocationsResponse) => {
        responses.push(r);
        if (responses.length === 1) void revoke(keyId, "grpc-js").catch(reject);
        if (r.revocations.some((x) => x.keyId === keyId)) resolve();
      });
      call.on("error", (err: grpc.ServiceError) => {
        if (err.code !== grpc.status.CANCELLED) reject(err);
      });
    });
    await seen;
    call.cancel();
    client.close();
  });

  it("ends the stream of a key that gets revoked, after telling it so", async () => {
    const client = createSigilClient({ baseUrl: server.grpcUrl });
    const issued = await admin.issueKey({ name: "short-lived verifier", owner: "svc:v", scopes: ["sigil:verify"] });
    const watch = open(client, issued.secret);
    await watch.next();
    await revoke(issued.key!.keyId, "decommissioned");
    assert.deepEqual((await watch.until([issued.key!.keyId])).seen, [issued.key!.keyId]);
    const err = await watch.error();
    assert.equal(err.code, Code.PermissionDenied);
    assert.match(err.message, /REVOKED/);
  });

  it("answers FAILED_PRECONDITION for a cursor older than the feed's retention", async () => {
    const client = createSigilClient({ baseUrl: server.grpcUrl });
    const watch = open(client, verifyKey);
    const { cursor } = await watch.next();
    watch.close();
    await revoke(await issue(), "pruned away");
    // What the retention pruner does after SIGIL_FEED_RETENTION: drop every row so far.
    const { db } = openDatabase(server.databaseUrl);
    try {
      while ((await pruneChangesBefore(db, Date.now() + 1000, 1000)) > 0);
    } finally {
      await db.destroy();
    }
    const err = await open(client, verifyKey, { start: { case: "cursor", value: cursor } }).error();
    assert.equal(err.code, Code.FailedPrecondition);
    assert.match(err.message, /retention.*resync/);
    // A cursor this feed never handed out (from another deployment) is refused the same way.
    const ahead = Buffer.from("v1:999999999").toString("base64url");
    assert.equal((await open(client, verifyKey, { start: { case: "cursor", value: ahead } }).error()).code, Code.FailedPrecondition);
  });

  it("frees the server side when the client cancels", async () => {
    const client = createSigilClient({ baseUrl: server.grpcUrl });
    const issued = await admin.issueKey({ name: "cancelling verifier", owner: "svc:c", scopes: ["sigil:verify"] });
    const watch = open(client, issued.secret);
    await watch.next();
    watch.close();
    const ended = () => server.logs.some((l) => l.includes("WatchRevocations") && l.includes(issued.key!.keyId));
    for (let i = 0; i < 100 && !ended(); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(ended(), "the server logged the end of the cancelled call");
  });
});

describe("WatchRevocations at shutdown", () => {
  it("ends open streams with UNAVAILABLE so shutdown does not wait out the grace period", async () => {
    // A long grace period: if open streams held the shutdown, close() would take 30 s.
    const server = await startTestServer({ SIGIL_SHUTDOWN_GRACE: "30s" });
    const grpcWatch = new Watch(createSigilClient({ baseUrl: server.grpcUrl }), server.adminKey);
    const connectWatch = new Watch(createSigilClient({ baseUrl: server.httpUrl, protocol: "connect" }), server.adminKey);
    await grpcWatch.next();
    await connectWatch.next();
    const started = Date.now();
    const closed = server.close();
    const [grpcErr, connectErr] = await Promise.all([grpcWatch.error(10_000), connectWatch.error(10_000)]);
    await closed;
    assert.ok(Date.now() - started < 10_000, `close() took ${Date.now() - started} ms`);
    for (const err of [grpcErr, connectErr]) {
      assert.equal(err.code, Code.Unavailable, err.message);
    }
    assert.match(grpcErr.message, /shutting down/);
  });
});
