import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import type { SigilClient } from "../../clients/typescript/src/index.js";
import { errorOf } from "../support/call-outcome.js";
import { protocolClients } from "../support/protocol-clients.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

/**
 * Binary protobuf can carry any int32 in a Duration's or Timestamp's nanos; JSON cannot, so these
 * go over the binary protocols (gRPC, Connect, gRPC-Web).
 */
describe("Durations and Timestamps from outside are well formed or INVALID_ARGUMENT", () => {
  let server: TestServer;
  let clients: Array<[string, SigilClient]>;
  let parent: string;
  let keyId: string;
  before(async () => {
    server = await startTestServer();
    clients = protocolClients(server, { binaryOnly: true });
    const issued = await clients[0]![1].issueKey({ name: "parent", owner: "svc:durations", scopes: ["read"] });
    parent = issued.secret;
    keyId = issued.key!.keyId;
  });
  after(() => server.close());

  const inAnHour = () => BigInt(Math.floor(server.now() / 1000) + 3600);

  it("DeriveToken: ttl nanos of 2e9 is refused, not read as 2 more seconds", async () => {
    for (const [protocol, client] of clients) {
      const err = await errorOf(client.deriveToken({ credential: parent, ttl: { seconds: 60n, nanos: 2_000_000_000 } }));
      assert.equal(err.code, Code.InvalidArgument, protocol);
      assert.equal(err.rawMessage, "ttl: nanos must be between -999999999 and 999999999", protocol);
    }
    // The largest nanos is fine: 60.999999999 s is 60 s (whole-second tokens).
    const ok = await clients[0]![1].deriveToken({ credential: parent, ttl: { seconds: 60n, nanos: 999_999_999 } });
    assert.equal(Number(ok.ttl!.seconds), 60);
  });

  const cases: Array<[string, (c: SigilClient) => Promise<unknown>, RegExp]> = [
    ["IssueKey ttl, nanos of the wrong sign", (c) => c.issueKey({ name: "n", owner: "o", expiration: { case: "ttl", value: { seconds: 100n, nanos: -5 } } }), /^ttl: seconds and nanos must have the same sign$/],
    ["IssueKey ttl, nanos too large", (c) => c.issueKey({ name: "n", owner: "o", expiration: { case: "ttl", value: { seconds: 100n, nanos: 1_000_000_000 } } }), /^ttl: nanos must be/],
    ["IssueKey ttl, seconds past Duration's range", (c) => c.issueKey({ name: "n", owner: "o", expiration: { case: "ttl", value: { seconds: 315_576_000_001n, nanos: 0 } } }), /^ttl: seconds out of range$/],
    ["IssueKey expire_time, negative nanos", (c) => c.issueKey({ name: "n", owner: "o", expiration: { case: "expireTime", value: { seconds: inAnHour(), nanos: -1 } } }), /^expire_time: nanos must be between 0 and 999999999$/],
    ["IssueKey expire_time, nanos of 1e9", (c) => c.issueKey({ name: "n", owner: "o", expiration: { case: "expireTime", value: { seconds: inAnHour(), nanos: 1_000_000_000 } } }), /^expire_time: nanos must be/],
    ["IssueKey expire_time, past year 9999", (c) => c.issueKey({ name: "n", owner: "o", expiration: { case: "expireTime", value: { seconds: 253_402_300_800n, nanos: 0 } } }), /^expire_time: must be between 0001-01-01 and 9999-12-31$/],
    ["IssueKey rate_limit.window nanos", (c) => c.issueKey({ name: "n", owner: "o", rateLimit: { requests: 1, window: { seconds: 1n, nanos: 1_500_000_000 } } }), /^rate_limit\.window: nanos must be/],
    ["UpdateKey key.expire_time nanos", (c) => c.updateKey({ key: { keyId, expireTime: { seconds: inAnHour(), nanos: -7 } }, updateMask: { paths: ["expire_time"] } }), /^key\.expire_time: nanos must be/],
    ["RotateKey grace_period nanos", (c) => c.rotateKey({ keyId, gracePeriod: { seconds: 10n, nanos: 2_000_000_000 } }), /^grace_period: nanos must be/],
    ["ImportKey expire_time nanos", (c) => c.importKey({ keyMaterial: { case: "rawKey", value: "legacy-durations-1" }, owner: "o", name: "n", expireTime: { seconds: inAnHour(), nanos: -1 } }), /^expire_time: nanos must be/],
    ["ListAuditEvents start_time nanos", (c) => c.listAuditEvents({ startTime: { seconds: 1n, nanos: -1 } }), /^start_time: nanos must be/],
  ];

  for (const [name, call, message] of cases) {
    it(name, async () => {
      const keysBefore = (await clients[0]![1].listKeys({ pageSize: 1000 })).keys.length;
      for (const [protocol, client] of clients) {
        const err = await errorOf(call(client));
        assert.equal(err.code, Code.InvalidArgument, `${protocol}: ${err.rawMessage}`);
        assert.match(err.rawMessage, message, protocol);
      }
      assert.equal((await clients[0]![1].listKeys({ pageSize: 1000 })).keys.length, keysBefore, "no row was written");
    });
  }

  it("WatchRevocations heartbeat_interval and start_time nanos", async () => {
    const verifier = (await clients[0]![1].issueKey({ name: "verifier", owner: "svc:durations", scopes: ["sigil:verify"] })).secret;
    for (const [protocol, client] of clients) {
      for (const [request, message] of [
        [{ heartbeatInterval: { seconds: 1n, nanos: -1 } }, /^heartbeat_interval: seconds and nanos must have the same sign$/],
        [{ start: { case: "startTime" as const, value: { seconds: BigInt(Math.floor(server.now() / 1000) - 60), nanos: 1_000_000_000 } } }, /^start_time: nanos must be/],
      ] as const) {
        const err = await errorOf(
          (async () => {
            for await (const _ of client.watchRevocations(request, { headers: { authorization: `Bearer ${verifier}` } })) break;
          })(),
        );
        assert.equal(err.code, Code.InvalidArgument, `${protocol}: ${err.rawMessage}`);
        assert.match(err.rawMessage, message, protocol);
      }
    }
  });

  it("range errors say the bound in people's units", async () => {
    const err = await errorOf(clients[0]![1].rotateKey({ keyId, gracePeriod: { seconds: 31n * 86_400n, nanos: 0 } }));
    assert.equal(err.rawMessage, "grace_period: must be between 0s and 30d (2592000s)");
  });
});
