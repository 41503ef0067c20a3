import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { describe, it } from "node:test";
import { decodeProtectedHeader, jwtVerify } from "jose";
import { mintDerivedJwt, verifyDerivedJwt } from "../../src/tokens/derived-jwt.js";

// mintDerivedJwt signs with node:crypto, not jose: jose (and so every verifier built on it) must
// accept what it makes, and refuse it once a byte of it changes.
describe("mintDerivedJwt", () => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const signingKey = { kid: "kid-1", privateKey, createTime: 0 };
  const input = {
    issuer: "https://sigil.example/tenants/acme",
    tenantId: "acme",
    subject: "svc:orders",
    keyId: "sk_abc",
    scopes: ["orders:read", "orders:write"],
    issuedAtMs: 1_800_000_000_500,
    expireTimeMs: 1_800_000_600_900,
  };

  it("makes a compact JWS that jose verifies, with the header and claims Sigil promises", async () => {
    const { token, jti } = await mintDerivedJwt(signingKey, { ...input, audience: "orders-api" });
    assert.deepEqual(decodeProtectedHeader(token), { alg: "EdDSA", kid: "kid-1", typ: "JWT" });
    const { payload } = await jwtVerify(token, publicKey, { algorithms: ["EdDSA"], currentDate: new Date(1_800_000_001_000), audience: "orders-api" });
    assert.deepEqual(payload, {
      scope: "orders:read orders:write",
      key_id: "sk_abc",
      tenant: "acme",
      iss: "https://sigil.example/tenants/acme",
      sub: "svc:orders",
      aud: "orders-api",
      iat: 1_800_000_000,
      nbf: 1_800_000_000,
      exp: 1_800_000_600,
      jti,
    });
    assert.match(jti, /^[A-Za-z0-9_-]{22}$/);
  });

  it("leaves `aud` out when there is none, and each token gets its own jti", async () => {
    const a = await mintDerivedJwt(signingKey, { ...input, audience: undefined });
    const b = await mintDerivedJwt(signingKey, { ...input, audience: undefined });
    assert.notEqual(a.jti, b.jti);
    const verdict = await verifyDerivedJwt(a.token, () => publicKey, { audience: "", nowMs: 1_800_000_001_000 });
    assert.ok(verdict.ok);
    assert.equal("aud" in verdict.claims, false);
  });

  it("a token with a changed byte, or checked against another key, does not verify", async () => {
    const { token } = await mintDerivedJwt(signingKey, { ...input, audience: undefined });
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
    const widened = Buffer.from(JSON.stringify({ ...claims, scope: "admin" })).toString("base64url");
    const options = { audience: "", nowMs: 1_800_000_001_000 };
    assert.deepEqual(await verifyDerivedJwt(`${header}.${widened}.${signature}`, () => publicKey, options), { ok: false, reason: "BAD_SIGNATURE" });
    const other = generateKeyPairSync("ed25519").publicKey;
    assert.deepEqual(await verifyDerivedJwt(token, () => other, options), { ok: false, reason: "BAD_SIGNATURE" });
  });
});
