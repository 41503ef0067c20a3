import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { performance } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";
import { Code, type ConnectError } from "@connectrpc/connect";
import { SignJWT, decodeProtectedHeader } from "jose";
import { createSigilClient, OfflineVerifier, TokenFormat, VerifyReason, type OfflineVerifierOptions, type SigilClient } from "../../clients/typescript/src/index.js";
import { startTestServer, type TestServer } from "../support/test-server.js";
import { TcpProxy } from "../support/tcp-proxy.js";

/** The target of issue #4: on loopback a revoked parent's JWT is rejected within this long. */
const REVOCATION_WINDOW_MS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("OfflineVerifier", () => {
  let server: TestServer;
  let admin: SigilClient;
  let verifyKey: string;
  const verifiers: OfflineVerifier[] = [];
  const proxies: TcpProxy[] = [];

  async function startVerifier(options: Partial<OfflineVerifierOptions> = {}): Promise<OfflineVerifier> {
    const v = new OfflineVerifier({ baseUrl: server.grpcUrl, credential: verifyKey, audience: "billing-api", ...options });
    verifiers.push(v);
    await v.start();
    return v;
  }

  async function parent(scopes = ["invoices:read", "invoices:write"]) {
    const r = await admin.issueKey({ name: "agent", owner: "agent:offline", scopes });
    return { keyId: r.key!.keyId, key: r.secret };
  }

  async function jwt(key: string, init: { scopes?: string[]; audience?: string } = {}): Promise<string> {
    return (await admin.deriveToken({ credential: key, format: TokenFormat.JWT, scopes: init.scopes ?? [], audience: init.audience ?? "" })).token;
  }

  const callsTo = (method: string) => server.logs.filter((l) => l.includes(`KeyService/${method}"`)).length;

  before(async () => {
    // The verifiers of these tests share one key and stay open until the end: more than the default 8.
    server = await startTestServer({ SIGIL_WATCH_STREAMS_PER_KEY: "64" });
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    verifyKey = (await admin.issueKey({ name: "billing verifier", owner: "svc:billing", scopes: ["sigil:verify"] })).secret;
  });
  after(async () => {
    await Promise.all(verifiers.map((v) => v.close()));
    await Promise.all(proxies.map((p) => p.close()));
    await server.close();
  });

  it("verifies a derived JWT and its claims without calling Sigil", async () => {
    const verifier = await startVerifier({ requiredScopes: ["invoices:read"] });
    const { keyId, key } = await parent();
    const token = await jwt(key, { audience: "billing-api" });
    const verifyCalls = callsTo("VerifyKey");

    const ok = await verifier.verify(token, { requiredScopes: ["invoices:write"] });
    assert.equal(ok.valid, true, JSON.stringify(ok));
    if (!ok.valid) return;
    assert.equal(ok.keyId, keyId);
    assert.equal(ok.subject, "agent:offline");
    assert.deepEqual(ok.scopes, ["invoices:read", "invoices:write"]);
    assert.deepEqual(ok.audiences, ["billing-api"]);
    assert.ok(ok.expireTime.getTime() > Date.now());

    const narrow = await jwt(key, { scopes: ["invoices:write"] });
    assert.deepEqual(await verifier.verify(narrow), { valid: false, reason: VerifyReason.INSUFFICIENT_SCOPE, keyId }, "the verifier's own required scope");
    assert.equal((await verifier.verify(token, { requiredScopes: ["admin"] })).valid, false);
    // No audience in the token: valid for any audience, as with VerifyKey.
    assert.equal((await verifier.verify(await jwt(key))).valid, true);
    assert.deepEqual(await verifier.verify(await jwt(key, { audience: "other-api" })), { valid: false, reason: VerifyReason.AUDIENCE_MISMATCH, keyId });
    assert.equal((await verifier.verify(token, { audience: "other-api" })).valid, false, "per-call audience");

    const [h, p, s] = token.split(".");
    const flipped = `${h}.${p}.${s!.startsWith("A") ? "B" : "A"}${s!.slice(1)}`;
    assert.deepEqual(await verifier.verify(flipped), { valid: false, reason: VerifyReason.BAD_SIGNATURE });
    for (const garbage of ["", "not-a-jwt", "a.b.c", "x".repeat(9000), key]) {
      assert.deepEqual(await verifier.verify(garbage), { valid: false, reason: VerifyReason.MALFORMED });
    }
    const macaroon = (await admin.deriveToken({ credential: key, format: TokenFormat.MACAROON })).token;
    assert.deepEqual(await verifier.verify(macaroon), { valid: false, reason: VerifyReason.MALFORMED });
    assert.equal(callsTo("VerifyKey"), verifyCalls, "offline: no VerifyKey call was made");
  });

  it("allows only listed algorithms, Sigil's keys and Sigil's issuer", async () => {
    const verifier = await startVerifier();
    const { key } = await parent();
    const token = await jwt(key);
    const { kid } = decodeProtectedHeader(token);
    const claims = { scope: "invoices:read", key_id: "0123456789abcdef" };
    const stamp = (j: SignJWT) => j.setIssuer("sigil").setSubject("agent:x").setIssuedAt().setNotBefore("0s").setExpirationTime("5m").setJti("j1");

    // A token signed with another Ed25519 key under Sigil's kid, and under an unknown kid.
    const foreign = generateKeyPairSync("ed25519").privateKey;
    const forged = await stamp(new SignJWT(claims).setProtectedHeader({ alg: "EdDSA", kid: kid! })).sign(foreign);
    assert.deepEqual(await verifier.verify(forged), { valid: false, reason: VerifyReason.BAD_SIGNATURE });
    const unknownKid = await stamp(new SignJWT(claims).setProtectedHeader({ alg: "EdDSA", kid: "not-sigils" })).sign(foreign);
    assert.deepEqual(await verifier.verify(unknownKid), { valid: false, reason: VerifyReason.BAD_SIGNATURE });
    // HMAC with a guessable secret: the classic algorithm-confusion attack.
    const hs = await stamp(new SignJWT(claims).setProtectedHeader({ alg: "HS256", kid: kid! })).sign(new TextEncoder().encode("public key bytes"));
    assert.deepEqual(await verifier.verify(hs), { valid: false, reason: VerifyReason.ALGORITHM_NOT_ALLOWED });

    const otherIssuer = await startVerifier({ issuer: "someone-else" });
    assert.deepEqual(await otherIssuer.verify(token), { valid: false, reason: VerifyReason.ISSUER_MISMATCH });
    const shortLived = await startVerifier({ maxTokenTtlMs: 60_000 });
    // A 15-minute token outlives what a verifier configured for 1-minute tokens remembers revocations for.
    assert.equal(((await shortLived.verify(token)) as { reason?: VerifyReason }).reason, VerifyReason.LIFETIME_TOO_LONG);
    assert.throws(() => new OfflineVerifier({ baseUrl: server.grpcUrl, credential: verifyKey, algorithms: ["HS256"] }), /asymmetric/);
    assert.throws(() => new OfflineVerifier({ baseUrl: server.grpcUrl, credential: "has a space" }), /credential/);
  });

  it("remembers a verified token until its exp: expiry, revocation, audience and scopes are still checked on every call", async () => {
    let skewMs = 0;
    const verifier = await startVerifier({ now: () => Date.now() + skewMs });
    const { keyId, key } = await parent();
    const token = await jwt(key, { audience: "billing-api" });
    const first = await verifier.verify(token);
    assert.equal(first.valid, true);
    const again = await verifier.verify(token);
    assert.deepEqual(again, first, "a token seen before answers the same");
    if (!again.valid) return;
    assert.ok(Object.isFrozen(again.claims) && Object.isFrozen(again.scopes), "shared answers cannot be changed by a caller");
    assert.deepEqual(await verifier.verify(token, { requiredScopes: ["admin"] }), { valid: false, reason: VerifyReason.INSUFFICIENT_SCOPE, keyId });
    assert.deepEqual(await verifier.verify(token, { audience: "other-api" }), { valid: false, reason: VerifyReason.AUDIENCE_MISMATCH, keyId });
    // Past its exp (15 min) and the tolerance (5 s), the remembered token is expired like any other.
    skewMs = 15 * 60_000 + 6_000;
    assert.equal(((await verifier.verify(token)) as { reason?: VerifyReason }).reason, VerifyReason.EXPIRED);
    skewMs = 0;
    assert.equal((await verifier.verify(token)).valid, true, "and verifies again from scratch once the clock is back");
    // With the cache off every call checks the signature; the answers are the same.
    const uncached = await startVerifier({ maxCachedTokens: 0 });
    assert.deepEqual(await uncached.verify(token), first);
    assert.deepEqual(await uncached.verify(token), first);
    assert.throws(() => new OfflineVerifier({ baseUrl: server.grpcUrl, credential: verifyKey, maxCachedTokens: -1 }), /maxCachedTokens/);
  });

  it("checks exp and nbf with the configured clock tolerance", async () => {
    const { key } = await parent();
    const token = await jwt(key);
    const future = await startVerifier({ now: () => Date.now() + 16 * 60_000 });
    assert.equal(((await future.verify(token)) as { reason?: VerifyReason }).reason, VerifyReason.EXPIRED);
    const past = await startVerifier({ now: () => Date.now() - 60_000 });
    assert.equal(((await past.verify(token)) as { reason?: VerifyReason }).reason, VerifyReason.NOT_YET_VALID);
    const tolerant = await startVerifier({ now: () => Date.now() - 60_000, clockToleranceMs: 120_000 });
    assert.equal((await tolerant.verify(token)).valid, true);
  });

  it(`rejects a JWT within ${REVOCATION_WINDOW_MS} ms of its parent's revocation (measured)`, async (t) => {
    const verifier = await startVerifier();
    const windows: number[] = [];
    for (let round = 0; round < 5; round++) {
      const { keyId, key } = await parent();
      const token = await jwt(key);
      assert.equal((await verifier.verify(token)).valid, true);
      await admin.revokeKey({ keyId, reason: `round ${round}` });
      const revokedAt = performance.now();
      let result = await verifier.verify(token);
      while (result.valid && performance.now() - revokedAt < 5000) {
        await sleep(5);
        result = await verifier.verify(token);
      }
      windows.push(performance.now() - revokedAt);
      assert.deepEqual(result, { valid: false, reason: VerifyReason.REVOKED, keyId });
    }
    t.diagnostic(`revocation window after RevokeKey returned, ms: ${windows.map((w) => w.toFixed(0)).join(" ")}`);
    assert.ok(Math.max(...windows) <= REVOCATION_WINDOW_MS, `windows ${windows.join(", ")} ms exceed ${REVOCATION_WINDOW_MS} ms`);

    // A verifier that starts after the revocation learns of it from the start-time replay.
    const running = await startVerifier({ protocol: "connect", baseUrl: server.httpUrl });
    const { keyId, key } = await parent();
    const token = await jwt(key);
    await admin.revokeKey({ keyId, reason: "before the verifier started" });
    await sleep(400); // past one feed poll, so the revocation is in the past for the new verifier
    const fresh = await startVerifier({ protocol: "connect", baseUrl: server.httpUrl });
    assert.deepEqual(await fresh.verify(token), { valid: false, reason: VerifyReason.REVOKED, keyId });
    assert.deepEqual(await running.verify(token), { valid: false, reason: VerifyReason.REVOKED, keyId });
  });

  it("fails closed when the feed is down past its bound, and catches up on reconnect", async () => {
    const proxy = await TcpProxy.start(server.app.grpcPort);
    proxies.push(proxy);
    const staleAfterMs = 1500;
    const feedErrors: string[] = [];
    const closed = await startVerifier({ baseUrl: proxy.url, staleAfterMs, reconnect: { initialMs: 50, maxMs: 200 }, onFeedError: (e) => feedErrors.push(e.message) });
    const open = await startVerifier({ baseUrl: proxy.url, staleAfterMs, failOpen: true, reconnect: { initialMs: 50, maxMs: 200 } });
    const { keyId, key } = await parent();
    const token = await jwt(key);
    const kept = await parent();
    const keptToken = await jwt(kept.key);
    assert.equal((await closed.verify(token)).valid, true);

    proxy.cut();
    const cutAt = performance.now();
    await admin.revokeKey({ keyId, reason: "revoked while the verifier is cut off" });
    // Within the bound the verifier still answers from what it knows.
    assert.equal((await closed.verify(keptToken)).valid, true);
    while (performance.now() - cutAt < staleAfterMs + 500) await sleep(50);
    assert.equal(closed.status().current, false);
    assert.deepEqual(await closed.verify(keptToken), { valid: false, reason: VerifyReason.REVOCATIONS_STALE, keyId: kept.keyId });
    assert.equal((await open.verify(keptToken)).valid, true, "failOpen keeps accepting");
    assert.equal((await open.verify(token)).valid, true, "failOpen cannot know of the revocation it missed");
    assert.ok(feedErrors.length > 0, "the feed's failures were reported");

    proxy.restore();
    const restoredAt = performance.now();
    while (closed.status().current === false && performance.now() - restoredAt < 10_000) await sleep(20);
    assert.equal(closed.status().current, true, "reconnected");
    // The revocation made during the outage arrives on reconnect: nothing was missed.
    for (const v of [closed, open]) {
      let result = await v.verify(token);
      while (result.valid && performance.now() - restoredAt < 10_000) {
        await sleep(20);
        result = await v.verify(token);
      }
      assert.deepEqual(result, { valid: false, reason: VerifyReason.REVOKED, keyId });
    }
    assert.equal((await closed.verify(keptToken)).valid, true);
    assert.ok(feedErrors.every((m) => !m.includes(verifyKey)), "no credential in feed errors");
  });

  it("fails closed until it has heard from the feed at all", async () => {
    const { key } = await parent();
    const token = await jwt(key);
    // A changed last character (never the one it has: that would be the valid key, 1 run in 62).
    const wrong = verifyKey.slice(0, -1) + (verifyKey.endsWith("x") ? "y" : "x");
    const refused = new OfflineVerifier({ baseUrl: server.grpcUrl, credential: wrong });
    verifiers.push(refused);
    await assert.rejects(refused.start({ timeoutMs: 60_000 }), (err: ConnectError) => err.code === Code.Unauthenticated);
    assert.equal(((await refused.verify(token)) as { reason?: VerifyReason }).reason, VerifyReason.REVOCATIONS_STALE);
  });

  it("start() fails at once, without retrying, when the server refuses the credential for good", async () => {
    // A valid key without sigil:verify: PERMISSION_DENIED, which no retry changes.
    const { secret: noScope } = await admin.issueKey({ name: "not a verifier", owner: "svc:offline", scopes: ["read"] });
    const calls = () => server.logs.filter((l) => l.includes('"msg":"call"') && l.includes("/WatchRevocations")).length;
    const before = calls();
    const refused = new OfflineVerifier({ baseUrl: server.grpcUrl, credential: noScope, reconnect: { initialMs: 10, maxMs: 10 } });
    verifiers.push(refused);
    const started = performance.now();
    const err = await refused.start({ timeoutMs: 60_000 }).then(
      () => assert.fail("start() resolved"),
      (e: unknown) => e as ConnectError,
    );
    assert.equal(err.code, Code.PermissionDenied);
    assert.match(err.message, /lacks the sigil:verify/);
    assert.ok(!err.message.includes(noScope), "the error holds no key");
    // Well under the 60 s timeout: it did not wait for it (generous for a loaded machine).
    assert.ok(performance.now() - started < 20_000, `rejected after ${Math.round(performance.now() - started)} ms`);
    // With a 10 ms back-off, a retrying watcher would have called dozens of times by now.
    await sleep(500);
    assert.equal(calls() - before, 1, "one WatchRevocations call, no retries");
    assert.equal(refused.status().connected, false);
  });
});
