import assert from "node:assert/strict";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import express from "express";
import { sigilExpress } from "../../clients/typescript/src/express.js";
import { createSigilAuth, createSigilClient, CredentialKind, TokenFormat, type SigilAuth, type SigilClient } from "../../clients/typescript/src/index.js";
import { PROTECTED_SERVICES, type Outcome, type ProtectedService } from "../support/protected-services.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

/**
 * The SDK's service middleware, end to end: a real service of each kind (grpc-js, connect-node,
 * connect-express, connect-fastify, Express, Fastify) behind it, calling the real Sigil server.
 */
describe("service middleware", () => {
  let server: TestServer;
  let admin: SigilClient;
  let auth: SigilAuth;
  const services: ProtectedService[] = [];

  const issue = async (scopes: string[], extra: Parameters<SigilClient["issueKey"]>[0] = {}) =>
    await admin.issueKey({ name: "caller", owner: "svc:caller", scopes, ...extra });

  before(async () => {
    server = await startTestServer();
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    const verifier = await issue(["sigil:verify"]);
    // A long cache TTL: only the revocation feed can make a cached answer go before the test ends.
    auth = createSigilAuth({ baseUrl: server.grpcUrl, verifierKey: verifier.secret, cache: { ttlMs: 120_000 } });
    await auth.ready();
    for (const start of PROTECTED_SERVICES) services.push(await start(auth));
  });
  after(async () => {
    for (const s of services) await s.close();
    await auth.close();
    await server.close();
  });

  const ok = (outcome: Outcome) => {
    assert.equal(outcome.status, "ok", JSON.stringify(outcome));
    return (outcome as Extract<Outcome, { status: "ok" }>).identity!;
  };
  const denied = (outcome: Outcome, status: Exclude<Outcome["status"], "ok">) => {
    assert.equal(outcome.status, status, JSON.stringify(outcome));
    return outcome as Exclude<Outcome, { status: "ok" }>;
  };
  const isHttp = (s: ProtectedService) => s.name.startsWith("Express") || s.name.startsWith("Fastify");

  it("hands each handler the verified identity of an API key, and of a derived JWT and macaroon", async () => {
    const { key, secret } = await issue(["invoices:read", "invoices:write"], { owner: "svc:billing" });
    const jwt = (await admin.deriveToken({ credential: secret, format: TokenFormat.JWT, scopes: ["invoices:read"] })).token;
    const macaroon = (await admin.deriveToken({ credential: secret, format: TokenFormat.MACAROON })).token;
    for (const s of services) {
      const identity = ok(await s.call("create", secret));
      assert.deepEqual(
        { keyId: identity.keyId, owner: identity.owner, scopes: identity.scopes, kind: identity.kind, parentKeyId: identity.parentKeyId },
        { keyId: key!.keyId, owner: "svc:billing", scopes: ["invoices:read", "invoices:write"], kind: CredentialKind.API_KEY, parentKeyId: undefined },
        s.name,
      );
      const fromJwt = ok(await s.call("list", jwt));
      assert.deepEqual([fromJwt.kind, fromJwt.parentKeyId, fromJwt.scopes], [CredentialKind.JWT, key!.keyId, ["invoices:read"]], s.name);
      assert.equal(denied(await s.call("create", jwt), "permission_denied").status, "permission_denied", s.name);
      assert.equal(ok(await s.call("list", macaroon)).kind, CredentialKind.MACAROON, s.name);
    }
  });

  it("answers the protocol's unauthenticated error for a missing or invalid credential, without echoing it", async () => {
    const { key } = await issue(["invoices:read"]);
    const forged = `sgl_${key!.keyId}_${"x".repeat(40)}`;
    for (const s of services) {
      const missing = denied(await s.call("list"), "unauthenticated");
      assert.match(missing.message, /no credential/, s.name);
      const invalid = denied(await s.call("list", forged), "unauthenticated");
      assert.ok(!invalid.message.includes(forged) && !invalid.message.includes("x".repeat(20)), `${s.name}: ${invalid.message}`);
      denied(await s.call("list", "not a credential"), "unauthenticated");
      if (!s.name.startsWith("grpc-js")) {
        // Longer than any credential Sigil accepts: refused without asking Sigil (grpc-js's own 8 KB metadata limit comes first).
        const calls = auth.stats().verifyCalls;
        denied(await s.call("list", "k".repeat(9000)), "unauthenticated");
        assert.equal(auth.stats().verifyCalls, calls, s.name);
      }
      if (isHttp(s)) {
        // RFC 6750: no error code when no credential was sent, invalid_token for a bad one.
        assert.equal(missing.challenge, 'Bearer realm="sigil"', s.name);
        assert.equal(invalid.challenge, 'Bearer realm="sigil", error="invalid_token"', s.name);
      }
    }
  });

  it("answers permission denied for a missing scope or a network the key may not be used from", async () => {
    const readOnly = await issue(["invoices:read"]);
    const elsewhere = await issue(["invoices:read"], { allowedNetworks: ["10.0.0.0/8"] });
    const local = await issue(["invoices:read"], { allowedNetworks: ["127.0.0.0/8"] });
    for (const s of services) {
      const scope = denied(await s.call("create", readOnly.secret), "permission_denied");
      assert.match(scope.message, /invoices:write/, s.name);
      if (isHttp(s)) assert.equal(scope.challenge, 'Bearer realm="sigil", error="insufficient_scope", scope="invoices:read invoices:write"', s.name);
      // The client's address reaches VerifyKey: refused from 127.0.0.1 by one key, accepted by the other.
      assert.match(denied(await s.call("list", elsewhere.secret), "permission_denied").message, /network/, s.name);
      ok(await s.call("list", local.secret));
    }
  });

  it("lets public methods through without a credential, and only them", async () => {
    for (const s of services) {
      assert.equal(ok(await s.call("status")), null, s.name);
      denied(await s.call("list"), "unauthenticated");
    }
  });

  it("asks Sigil on every request of a rate-limited key and answers rate limited with Retry-After", async () => {
    for (const s of services) {
      const { secret } = await issue(["invoices:read"], { rateLimit: { requests: 2, window: durationFromMs(3_600_000) } });
      ok(await s.call("list", secret));
      ok(await s.call("list", secret));
      const limited = denied(await s.call("list", secret), "rate_limited");
      assert.ok(Number(limited.retryAfter) > 0 && Number(limited.retryAfter) <= 3600, `${s.name}: retry-after ${limited.retryAfter}`);
    }
  });

  it("serves repeated requests from its cache, and rejects a revoked key within the feed window, not after the TTL", async () => {
    for (const s of services) {
      const { key, secret } = await issue(["invoices:read"]);
      ok(await s.call("list", secret));
      const before = auth.stats();
      ok(await s.call("list", secret));
      const afterHit = auth.stats();
      assert.deepEqual([afterHit.cacheHits - before.cacheHits, afterHit.verifyCalls - before.verifyCalls], [1, 0], `${s.name}: the second request is a cache hit`);
      assert.ok(afterHit.feedCurrent, "the revocation feed is current");

      await admin.revokeKey({ keyId: key!.keyId, reason: "middleware test" });
      const revokedAt = Date.now();
      let outcome = await s.call("list", secret);
      // The cached answer would last 120 s; the feed must end it within seconds.
      while (outcome.status === "ok" && Date.now() - revokedAt < 15_000) {
        await sleep(50);
        outcome = await s.call("list", secret);
      }
      assert.match(denied(outcome, "unauthenticated").message, /revoked/, s.name);
    }
  });
});

describe("SigilAuth", () => {
  let server: TestServer;
  let admin: SigilClient;
  let verifierKey: string;
  before(async () => {
    server = await startTestServer();
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    verifierKey = (await admin.issueKey({ name: "verifier", owner: "svc:api", scopes: ["sigil:verify"] })).secret;
  });
  after(async () => {
    await server.close();
  });

  it("verifies derived JWTs offline with offlineJwt, without a VerifyKey call", async () => {
    const auth = createSigilAuth({ baseUrl: server.grpcUrl, verifierKey, offlineJwt: true });
    try {
      await auth.ready();
      const { key, secret } = await admin.issueKey({ name: "agent", owner: "agent:7", scopes: ["read", "write"] });
      const jwt = (await admin.deriveToken({ credential: secret, format: TokenFormat.JWT, scopes: ["read"] })).token;
      const result = await auth.authenticate(jwt, { requiredScopes: ["read"] });
      assert.ok(result.ok, JSON.stringify(result));
      assert.deepEqual([result.identity.keyId, result.identity.kind, result.identity.offline, result.identity.scopes], [key!.keyId, CredentialKind.JWT, true, ["read"]]);
      const narrower = await auth.authenticate(jwt, { requiredScopes: ["write"] });
      assert.equal(narrower.ok ? "ok" : narrower.denial.status, "permission_denied");
      assert.deepEqual([auth.stats().verifyCalls, auth.stats().offlineVerifications], [0, 1]);
      // API keys still go to Sigil.
      assert.ok((await auth.authenticate(secret)).ok);
      assert.equal(auth.stats().verifyCalls, 1);
    } finally {
      await auth.close();
    }
  });

  it("without a feed, reuses an answer only for ttlWithoutFeedMs", async () => {
    let now = Date.now();
    const auth = createSigilAuth({ baseUrl: server.grpcUrl, cache: { ttlMs: 60_000, ttlWithoutFeedMs: 1000 }, now: () => now });
    try {
      const { secret } = await admin.issueKey({ name: "agent", owner: "agent:8", scopes: ["read"] });
      assert.ok((await auth.authenticate(secret)).ok);
      assert.ok((await auth.authenticate(secret)).ok);
      assert.deepEqual([auth.stats().verifyCalls, auth.stats().cacheHits, auth.stats().feedCurrent], [1, 1, false]);
      now += 1500;
      assert.ok((await auth.authenticate(secret)).ok);
      assert.equal(auth.stats().verifyCalls, 2);
    } finally {
      await auth.close();
    }
  });

  it("fails closed as unavailable when Sigil cannot be reached, saying only the code", async () => {
    const errors: string[] = [];
    const auth = createSigilAuth({ baseUrl: "http://127.0.0.1:1", onError: (e) => errors.push(e.message) });
    try {
      const result = await auth.authenticate("sgl_abc_def");
      assert.equal(result.ok ? "ok" : result.denial.status, "unavailable");
      assert.ok(!result.ok && !result.denial.message.includes("sgl_abc_def"), JSON.stringify(result));
      assert.ok(errors.length === 1 && !errors[0]!.includes("sgl_abc_def"), errors.join("\n"));
    } finally {
      await auth.close();
    }
  });

  it("reads the credential from another header when told (X-API-Key), whole, and ignores Authorization then", async () => {
    const auth = createSigilAuth({ baseUrl: server.grpcUrl, header: "X-API-Key" });
    const app = express();
    app.get("/", sigilExpress(auth).require("read"), (req, res) => void res.json({ owner: req.sigil!.owner }));
    const http = app.listen(0, "127.0.0.1");
    try {
      await once(http, "listening");
      const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/`;
      const { secret } = await admin.issueKey({ name: "agent", owner: "agent:9", scopes: ["read"] });
      assert.deepEqual(await (await fetch(url, { headers: { "x-api-key": secret } })).json(), { owner: "agent:9" });
      const bearer = await fetch(url, { headers: { authorization: `Bearer ${secret}` } });
      assert.equal(bearer.status, 401);
      assert.match(((await bearer.json()) as { message: string }).message, /send x-api-key: <credential>/);
    } finally {
      http.closeAllConnections();
      http.close();
      await auth.close();
    }
  });

  it("refuses bad options with the option's name", () => {
    assert.throws(() => createSigilAuth({ baseUrl: server.grpcUrl, timeoutMs: 0 }), /timeoutMs/);
    assert.throws(() => createSigilAuth({ baseUrl: server.grpcUrl, header: "bad header" }), /header/);
    assert.throws(() => createSigilAuth({ baseUrl: server.grpcUrl, offlineJwt: true }), /verifierKey/);
    assert.throws(() => createSigilAuth({}), /baseUrl or transport/);
  });
});
