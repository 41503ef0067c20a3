import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createSigilClient, TokenFormat, VerifyReason } from "../../clients/typescript/src/index.js";
import { formatApiKey } from "../../src/keys/api-key-format.js";
import { METRIC } from "../../src/observability/metric-names.js";
import { parseExposition, promtoolCheck, scrape, scrapeSamples, valueOf, type MetricSample } from "../support/metrics-scrape.js";
import { testDialect } from "../support/postgres.js";
import { protocolClients } from "../support/protocol-clients.js";
import { startTestServer, type TestServer } from "../support/test-server.js";
import { Watch } from "../support/watch-stream.js";

/**
 * Issue #11 item 1: Prometheus metrics on their own listener. Values move as calls are made on
 * every protocol; no label value is a key id, secret, token or any string a caller sent; and
 * `promtool check metrics` accepts the exposition.
 */

const KEY_SERVICE = "sigil.v1.KeyService";

function metricsUrl(server: TestServer): string {
  assert.ok(server.app.metricsPort, "the metrics listener is on");
  return `http://127.0.0.1:${server.app.metricsPort}/metrics`;
}

function handled(samples: readonly MetricSample[], method: string, protocol: string, code = "OK"): number {
  return valueOf(samples, METRIC.rpcHandled, { grpc_service: KEY_SERVICE, grpc_method: method, grpc_code: code, protocol });
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe(`Prometheus metrics (${testDialect()})`, () => {
  it("RPC and verification metrics move with the calls of each protocol, and promtool accepts them", async () => {
    const server = await startTestServer();
    try {
      const url = metricsUrl(server);
      const clients = protocolClients(server, { binaryOnly: true });
      const admin = clients[0]![1];
      const { secret, key } = await admin.issueKey({ name: "metrics", owner: "svc:metrics", scopes: ["read"] });
      const before = await scrapeSamples(url);
      for (const [protocol, client] of clients) {
        for (let i = 0; i < 3; i++) assert.equal((await client.verifyKey({ credential: secret })).valid, true);
        assert.equal((await client.verifyKey({ credential: secret, requiredScopes: ["write"] })).reason, VerifyReason.INSUFFICIENT_SCOPE);
        assert.equal((await client.verifyKey({ credential: "not a key" })).reason, VerifyReason.MALFORMED, protocol);
      }
      const after = await scrapeSamples(url);
      for (const [protocol] of clients) {
        assert.equal(handled(after, "VerifyKey", protocol) - handled(before, "VerifyKey", protocol), 5, `VerifyKey OK on ${protocol}`);
        const started = (s: readonly MetricSample[]) => valueOf(s, METRIC.rpcStarted, { grpc_method: "VerifyKey", protocol, grpc_type: "unary" });
        assert.equal(started(after) - started(before), 5);
        const timed = (s: readonly MetricSample[]) => valueOf(s, `${METRIC.rpcHandlingSeconds}_count`, { grpc_method: "VerifyKey", protocol });
        assert.equal(timed(after) - timed(before), 5);
      }
      const verified = (s: readonly MetricSample[], reason: string) => valueOf(s, METRIC.verifications, { kind: "api_key", reason });
      assert.equal(verified(after, "valid") - verified(before, "valid"), 9);
      assert.equal(verified(after, "insufficient_scope") - verified(before, "insufficient_scope"), 3);
      assert.equal(valueOf(after, METRIC.verifications, { reason: "malformed" }) - valueOf(before, METRIC.verifications, { reason: "malformed" }), 3);

      // The other answers, each under its own reason.
      const anonymous = createSigilClient({ baseUrl: server.grpcUrl });
      const limited = await admin.issueKey({ name: "limited", owner: "svc:metrics", rateLimit: { requests: 1, window: { seconds: 3600n, nanos: 0 } } });
      const metered = await admin.issueKey({ name: "metered", owner: "svc:metrics", credits: { remaining: 1n } });
      const expiring = await admin.issueKey({ name: "expiring", owner: "svc:metrics", expiration: { case: "ttl", value: { seconds: 60n, nanos: 0 } } });
      const r0 = await scrapeSamples(url);
      const answers = [
        await anonymous.verifyKey({ credential: formatApiKey("sgl", key!.keyId).key }),
        await anonymous.verifyKey({ credential: limited.secret }),
        await anonymous.verifyKey({ credential: limited.secret }),
        await anonymous.verifyKey({ credential: metered.secret }),
        await anonymous.verifyKey({ credential: metered.secret }),
      ];
      server.advance(120_000);
      answers.push(await anonymous.verifyKey({ credential: expiring.secret }));
      assert.deepEqual(
        answers.map((a) => a.reason),
        [VerifyReason.NOT_FOUND, VerifyReason.VALID, VerifyReason.RATE_LIMITED, VerifyReason.VALID, VerifyReason.USAGE_EXHAUSTED, VerifyReason.EXPIRED],
      );
      const r1 = await scrapeSamples(url);
      for (const reason of ["not_found", "rate_limited", "usage_exhausted", "expired"]) {
        assert.equal(verified(r1, reason) - verified(r0, reason), 1, reason);
      }
      assert.equal(valueOf(r1, METRIC.rateLimited) - valueOf(r0, METRIC.rateLimited), 1);
      assert.equal(valueOf(r1, METRIC.creditsExhausted) - valueOf(r0, METRIC.creditsExhausted), 1);

      // The gateway's forward-auth route counts as a unary call of protocol "http".
      assert.equal((await fetch(`${server.httpUrl}/v1/authorize`, { headers: { authorization: `Bearer ${secret}` } })).status, 200);
      assert.equal((await fetch(`${server.httpUrl}/v1/authorize`)).status, 401);
      const routed = await scrapeSamples(url);
      const route = { grpc_type: "unary", grpc_service: "http", grpc_method: "/v1/authorize", protocol: "http" };
      assert.equal(valueOf(routed, METRIC.rpcHandled, { ...route, grpc_code: "OK" }), 1);
      assert.equal(valueOf(routed, METRIC.rpcHandled, { ...route, grpc_code: "Unauthenticated" }), 1);

      // A call that fails is counted under its code; an admin call without a key is UNAUTHENTICATED.
      const anon = createSigilClient({ baseUrl: server.grpcUrl });
      await assert.rejects(anon.getKey({ keyId: key!.keyId }));
      const failed = await scrapeSamples(url);
      assert.equal(handled(failed, "GetKey", "grpc", "Unauthenticated"), 1);

      // The JWT cache: the first verification of a token misses, the next hits.
      const { token } = await anon.deriveToken({ credential: secret, format: TokenFormat.JWT });
      const jwt = (s: readonly MetricSample[], result: string) => valueOf(s, METRIC.jwtCacheLookups, { result });
      const j0 = await scrapeSamples(url);
      await anon.verifyKey({ credential: token });
      await anon.verifyKey({ credential: token });
      const j1 = await scrapeSamples(url);
      assert.equal(jwt(j1, "miss") - jwt(j0, "miss"), 1);
      assert.equal(jwt(j1, "hit") - jwt(j0, "hit"), 1);
      assert.equal(valueOf(j1, METRIC.verifications, { kind: "jwt", reason: "valid" }) - valueOf(j0, METRIC.verifications, { kind: "jwt", reason: "valid" }), 2);

      // Database calls are timed by operation and table.
      assert.ok(valueOf(j1, `${METRIC.databaseCallSeconds}_count`, { operation: "insert", table: "keys" }) >= 1);
      assert.equal(valueOf(j1, METRIC.databaseUp), 1);
      assert.equal(valueOf(j1, METRIC.buildInfo), 1);
      assert.ok(valueOf(j1, METRIC.signingKeysPublished) >= 1);
      assert.ok(valueOf(j1, `${METRIC.issueBatchSize}_count`) >= 1, "the IssueKey batch was observed");
      assert.ok(valueOf(j1, "process_cpu_seconds_total") > 0, "prom-client's default metrics");

      const text = await scrape(url);
      const check = promtoolCheck(text);
      assert.equal(check.code, 0, check.output);
      assert.equal(check.output.trim(), "", `promtool has no complaint: ${check.output}`);
    } finally {
      await server.close();
    }
  });

  it("a cache miss then a hit; a revocation made by another process moves this one's feed metrics", async () => {
    const a = await startTestServer({ SIGIL_FEED_POLL_INTERVAL: "100ms" });
    // B caches one key record: a second key evicts the first.
    const b = await startTestServer({ SIGIL_FEED_POLL_INTERVAL: "100ms", SIGIL_CACHE_SIZE: "1" }, { join: a });
    try {
      const admin = createSigilClient({ baseUrl: a.grpcUrl, adminKey: a.adminKey });
      const onB = createSigilClient({ baseUrl: b.grpcUrl });
      const url = metricsUrl(b);
      // An issue applied from the feed invalidates that key id on B, and a read racing it is not
      // cached: each key is verified on B only once B has applied its issue.
      const issueOnA = async (name: string) => {
        const issued = (s: readonly MetricSample[]) => valueOf(s, METRIC.feedChangesApplied, { action: "issue" });
        const before = issued(await scrapeSamples(url));
        const result = await admin.issueKey({ name, owner: "svc:feed" });
        await waitFor("B to apply the issue", async () => (issued(await scrapeSamples(url)) > before ? true : undefined));
        return result;
      };
      const { secret, key } = await issueOnA("feed");
      const lookups = (s: readonly MetricSample[], result: string) => valueOf(s, METRIC.keyCacheLookups, { result });
      const s0 = await scrapeSamples(url);
      assert.equal((await onB.verifyKey({ credential: secret })).valid, true);
      const s1 = await scrapeSamples(url);
      assert.equal(lookups(s1, "miss") - lookups(s0, "miss"), 1, "the first verification on B reads the database");
      assert.equal(lookups(s1, "hit") - lookups(s0, "hit"), 0);
      assert.equal((await onB.verifyKey({ credential: secret })).valid, true);
      const s2 = await scrapeSamples(url);
      assert.equal(lookups(s2, "hit") - lookups(s1, "hit"), 1, "the second is a cache hit");
      assert.equal(lookups(s2, "miss") - lookups(s1, "miss"), 0);
      assert.equal(valueOf(s2, METRIC.keyCacheEntries), 1);
      const other = await issueOnA("evicting");
      assert.equal((await onB.verifyKey({ credential: other.secret })).valid, true);
      assert.equal((await onB.verifyKey({ credential: secret })).valid, true, "read again after its eviction");
      const evicted = await scrapeSamples(url);
      assert.equal(valueOf(evicted, METRIC.keyCacheEvictions) - valueOf(s2, METRIC.keyCacheEvictions), 2);
      assert.equal(lookups(evicted, "miss") - lookups(s2, "miss"), 2);

      // An offline verifier follows A's revocation feed meanwhile.
      const watch = new Watch(createSigilClient({ baseUrl: a.grpcUrl }), a.adminKey);
      await admin.revokeKey({ keyId: key!.keyId, reason: "feed metrics" });
      await watch.until([key!.keyId]);
      const urlA = metricsUrl(a);
      const watching = await scrapeSamples(urlA);
      assert.equal(valueOf(watching, METRIC.watchStreamsOpen), 1);
      assert.equal(valueOf(watching, METRIC.rpcStarted, { grpc_method: "WatchRevocations", grpc_type: "server_stream", protocol: "grpc" }), 1);
      watch.close();
      await waitFor("the stream to close", async () => {
        const s = await scrapeSamples(urlA);
        return valueOf(s, METRIC.watchStreamsOpen) === 0 && valueOf(s, METRIC.rpcHandled, { grpc_method: "WatchRevocations" }) === 1 ? s : undefined;
      });
      const s3 = await waitFor("B to apply the revocation", async () => {
        const s = await scrapeSamples(url);
        return valueOf(s, METRIC.revocationsApplied) > valueOf(s2, METRIC.revocationsApplied) ? s : undefined;
      });
      assert.equal(valueOf(s3, METRIC.revocationsApplied) - valueOf(s2, METRIC.revocationsApplied), 1);
      assert.ok(valueOf(s3, METRIC.feedLastAppliedSeq) > valueOf(s2, METRIC.feedLastAppliedSeq), "the last applied sequence moved");
      assert.ok(valueOf(s3, `${METRIC.feedLagSeconds}_count`) > valueOf(s2, `${METRIC.feedLagSeconds}_count`), "the feed lag was observed");
      assert.ok(valueOf(s3, METRIC.feedChangesApplied, { action: "revoke" }) >= 1);
      assert.equal((await onB.verifyKey({ credential: secret })).reason, VerifyReason.REVOKED);
      const s4 = await scrapeSamples(url);
      assert.equal(valueOf(s4, METRIC.verifications, { kind: "api_key", reason: "revoked" }) - valueOf(s3, METRIC.verifications, { kind: "api_key", reason: "revoked" }), 1);
    } finally {
      await b.close();
      await a.close();
    }
  });

  it("no label value is a key id, secret, token, or a string a caller sent, after a full lifecycle", async () => {
    const server = await startTestServer();
    try {
      const marker = "CallerMarker7q";
      const clients = protocolClients(server, { binaryOnly: true });
      const secrets: string[] = [];
      for (const [, client] of clients) {
        const issued = await client.issueKey({ name: `name-${marker}`, owner: `owner-${marker}`, scopes: ["read", `scope-${marker}`], metadata: { note: `meta-${marker}` } });
        const keyId = issued.key!.keyId;
        secrets.push(issued.secret, keyId);
        const jwt = await client.deriveToken({ credential: issued.secret, format: TokenFormat.JWT, audience: `aud-${marker}` });
        const macaroon = await client.deriveToken({ credential: issued.secret, format: TokenFormat.MACAROON, scopes: ["read"] });
        secrets.push(jwt.token, macaroon.token);
        await client.verifyKey({ credential: issued.secret, requiredScopes: [`scope-${marker}`], audience: `aud-${marker}` });
        await client.verifyKey({ credential: jwt.token, audience: `aud-${marker}` });
        await client.verifyKey({ credential: macaroon.token });
        await client.verifyKey({ credential: `garbage-${marker}` });
        await client.batchVerifyKeys({ requests: [{ credential: issued.secret }, { credential: `sk_${marker}` }] });
        await client.getKey({ keyId });
        await client.listKeys({ owner: `owner-${marker}` });
        await client.updateKey({ key: { keyId, name: `renamed-${marker}` }, updateMask: { paths: ["name"] } });
        const rotated = await client.rotateKey({ keyId });
        secrets.push(rotated.secret);
        await client.revokeKey({ keyId, reason: `reason-${marker}` });
        await client.verifyKey({ credential: issued.secret });
        await client.getKey({ keyId: `unknown${marker}` }).catch(() => undefined);
      }
      // An unknown method on each listener: its path must not become a label value.
      for (const base of [server.grpcUrl, server.httpUrl]) {
        await fetch(`${base}/sigil.v1.KeyService/${marker}`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }).catch(() => undefined);
      }
      const text = await scrape(`http://127.0.0.1:${server.app.metricsPort}/metrics`);
      const values = new Set(parseExposition(text).flatMap((s) => Object.values(s.labels)));
      assert.ok(values.has("VerifyKey") && values.has("RevokeKey"), "the lifecycle's methods are labelled");
      for (const value of values) {
        assert.ok(!value.includes(marker), `label value ${value} carries a caller's string`);
        for (const secret of secrets) assert.ok(!value.includes(secret), `label value ${value} carries a key id, key or token`);
      }
      assert.ok(!text.includes(marker));
      for (const secret of secrets) assert.ok(!text.includes(secret), "no key id, key or token anywhere in the exposition");
    } finally {
      await server.close();
    }
  });

  it("the listener serves only GET /metrics, and SIGIL_METRICS_ADDR empty turns metrics off", async () => {
    const server = await startTestServer();
    try {
      const base = `http://127.0.0.1:${server.app.metricsPort}`;
      assert.equal((await fetch(`${base}/other`)).status, 404);
      assert.equal((await fetch(`${base}/metrics`, { method: "POST", body: "x" })).status, 405);
      const ok = await fetch(`${base}/metrics`);
      assert.equal(ok.status, 200);
      assert.match(ok.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
      await ok.text();
    } finally {
      await server.close();
    }
    const off = await startTestServer({ SIGIL_METRICS_ADDR: "" });
    try {
      assert.equal(off.app.metricsPort, undefined);
      const listening = off.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === "sigil is listening");
      assert.equal(listening?.metrics, undefined);
    } finally {
      await off.close();
    }
  });
});
