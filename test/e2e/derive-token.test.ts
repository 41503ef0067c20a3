import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { TokenFormat, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { errorOf } from "../support/call-outcome.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

describe("DeriveToken (JWT)", () => {
  let server: TestServer;
  let admin: SigilClient;
  let anon: SigilClient;
  before(async () => {
    server = await startTestServer();
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    anon = createSigilClient({ baseUrl: server.grpcUrl });
  });
  after(() => server.close());

  const issue = async (scopes: string[], ttlSeconds?: number) =>
    admin.issueKey({
      name: "parent",
      owner: "agent:alpha",
      scopes,
      expiration: ttlSeconds ? { case: "ttl", value: { seconds: BigInt(ttlSeconds), nanos: 0 } } : { case: undefined },
    });

  it("mints an EdDSA JWT with the documented claims, verifiable offline with the published JWKS", async () => {
    const parent = await issue(["read", "write"]);
    const d = await anon.deriveToken({ credential: parent.secret, scopes: ["read"], audience: "billing-api" });
    const header = decodeProtectedHeader(d.token);
    assert.equal(header.alg, "EdDSA");
    const claims = decodeJwt(d.token);
    assert.deepEqual(
      [claims.iss, claims.sub, claims.aud, claims.scope, claims.key_id, claims.jti],
      ["sigil", "agent:alpha", "billing-api", "read", parent.key!.keyId, d.tokenId],
    );
    assert.equal(claims.exp! - claims.iat!, 15 * 60, "default lifetime is 15 minutes");
    assert.equal(claims.nbf, claims.iat);
    const jwks = (await (await fetch(`${server.httpUrl}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
    assert.ok(jwks.keys.some((k) => k.kid === header.kid));
    const { payload } = await jwtVerify(d.token, createLocalJWKSet(jwks as never), { issuer: "sigil", audience: "billing-api", algorithms: ["EdDSA"] });
    assert.equal(payload.key_id, parent.key!.keyId);
    const rpcJwks = await anon.getJwks({});
    assert.deepEqual(rpcJwks.keys.map((k) => k.kid), jwks.keys.map((k) => k.kid));
  });

  it("accepts the parent key as a bearer credential too", async () => {
    const parent = await issue(["read"]);
    const bearer = createSigilClient({ baseUrl: server.grpcUrl, adminKey: parent.secret });
    const d = await bearer.deriveToken({});
    assert.equal((await anon.verifyKey({ credential: d.token })).valid, true);
  });

  it("refuses scopes the parent does not hold", async () => {
    const parent = await issue(["read"]);
    const err = await errorOf(anon.deriveToken({ credential: parent.secret, scopes: ["read", "write"] }));
    assert.equal(err.code, Code.PermissionDenied);
    assert.match(err.rawMessage, /write/);
    const empty = await issue([]);
    for (const format of [TokenFormat.JWT, TokenFormat.MACAROON]) {
      assert.equal((await errorOf(anon.deriveToken({ credential: empty.secret, format }))).code, Code.FailedPrecondition);
    }
    assert.equal((await errorOf(anon.deriveToken({ credential: parent.secret, format: 7 as TokenFormat }))).code, Code.InvalidArgument);
  });

  it("caps the lifetime by the configured maximum and by the parent's remaining life", async () => {
    const parent = await issue(["read"]);
    const long = await anon.deriveToken({ credential: parent.secret, ttl: { seconds: 5n * 3600n, nanos: 0 } });
    const lifetime = timestampDate(long.expireTime!).getTime() - Date.now();
    assert.ok(lifetime <= 3600_000 && lifetime > 3590_000, `capped at 1 h, got ${lifetime} ms`);
    const shortParent = await issue(["read"], 600);
    const capped = await anon.deriveToken({ credential: shortParent.secret, ttl: { seconds: 3000n, nanos: 0 } });
    assert.ok(timestampDate(capped.expireTime!).getTime() <= timestampDate(shortParent.key!.expireTime!).getTime());
    assert.equal((await errorOf(anon.deriveToken({ credential: parent.secret, ttl: { seconds: 0n, nanos: 0 } }))).code, Code.InvalidArgument);
  });

  it("expires derived JWTs, and refuses to derive from bad parents", async () => {
    const parent = await issue(["read"]);
    const d = await anon.deriveToken({ credential: parent.secret, ttl: { seconds: 60n, nanos: 0 } });
    // Verified once (its signature is then cached), and again after expiry: time is checked every time.
    assert.equal((await anon.verifyKey({ credential: d.token })).valid, true);
    server.advance(61_000);
    try {
      assert.equal((await anon.verifyKey({ credential: d.token })).reason, VerifyReason.EXPIRED);
    } finally {
      server.advance(-61_000);
    }
    assert.equal((await errorOf(anon.deriveToken({ credential: d.token }))).code, Code.Unauthenticated, "no tokens from tokens");
    assert.equal((await errorOf(anon.deriveToken({}))).code, Code.Unauthenticated);
    await admin.revokeKey({ keyId: parent.key!.keyId });
    assert.equal((await errorOf(anon.deriveToken({ credential: parent.secret }))).code, Code.Unauthenticated);
  });

  it("rejects tampered and foreign JWTs", async () => {
    const parent = await issue(["read", "write"]);
    const d = await anon.deriveToken({ credential: parent.secret, scopes: ["read"] });
    const [h, p, s] = d.token.split(".");
    const widened = Buffer.from(JSON.stringify({ ...decodeJwt(d.token), scope: "read write" })).toString("base64url");
    assert.equal((await anon.verifyKey({ credential: `${h}.${widened}.${s}` })).reason, VerifyReason.BAD_SIGNATURE);
    const none = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT", kid: decodeProtectedHeader(d.token).kid })).toString("base64url");
    assert.notEqual((await anon.verifyKey({ credential: `${none}.${p}.${s}` })).valid, true);
    assert.equal((await anon.verifyKey({ credential: d.token, audience: "x" })).valid, true, "tokens without aud verify for any audience");
    const aud = await anon.deriveToken({ credential: parent.secret, audience: "api-a" });
    assert.equal((await anon.verifyKey({ credential: aud.token, audience: "api-b" })).reason, VerifyReason.AUDIENCE_MISMATCH);
    assert.equal((await anon.verifyKey({ credential: aud.token, audience: "api-a" })).valid, true);
    assert.equal((await anon.verifyKey({ credential: aud.token, audience: "api-b" })).reason, VerifyReason.AUDIENCE_MISMATCH, "also once verified");
    assert.equal((await anon.verifyKey({ credential: aud.token })).reason, VerifyReason.AUDIENCE_MISMATCH);
  });

  it("derives macaroons with the same caps", async () => {
    const parent = await issue(["read"], 600);
    const d = await anon.deriveToken({ credential: parent.secret, format: TokenFormat.MACAROON, ttl: { seconds: 3000n, nanos: 0 } });
    assert.ok(timestampDate(d.expireTime!).getTime() <= timestampDate(parent.key!.expireTime!).getTime());
    const v = await anon.verifyKey({ credential: d.token });
    assert.equal(v.valid, true);
  });
});
