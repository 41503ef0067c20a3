import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { describe, it } from "node:test";
import { jwtVerify, SignJWT, type JWK } from "jose";
import { JwksCache, JwksUnavailableError } from "../../clients/typescript/src/jwks-cache.js";

function signingKey(kid: string) {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const jwk: JWK = { ...(publicKey.export({ format: "jwk" }) as JWK), kid, alg: "EdDSA", use: "sig" };
  const sign = () => new SignJWT({}).setProtectedHeader({ alg: "EdDSA", kid }).setExpirationTime("5m").sign(privateKey);
  return { jwk, sign };
}

describe("JwksCache", () => {
  it("refetches on an unknown kid (a rotation), at most once per cooldown", async () => {
    const k1 = signingKey("k1");
    const k2 = signingKey("k2");
    let published = [k1.jwk];
    let fetches = 0;
    let now = 0;
    const cache = new JwksCache(async () => (fetches++, published), { cooldownMs: 30_000, now: () => now });
    await cache.refresh();
    assert.equal(fetches, 1);
    await jwtVerify(await k1.sign(), cache.getKey);

    // Sigil rotates: tokens with k2 appear. Within the cooldown of the start-up fetch, no refetch.
    published = [k2.jwk, k1.jwk];
    now = 10_000;
    await assert.rejects(jwtVerify(await k2.sign(), cache.getKey), { code: "ERR_JWKS_NO_MATCHING_KEY" });
    assert.equal(fetches, 1);
    now = 30_000;
    await jwtVerify(await k2.sign(), cache.getKey);
    assert.equal(fetches, 2, "the unknown kid caused one refetch");

    // A flood of made-up kids costs one fetch per cooldown, shared by concurrent verifications.
    now = 60_000;
    const forged = await Promise.all(Array.from({ length: 20 }, (_, i) => signingKey(`fake-${i}`).sign()));
    const results = await Promise.allSettled(forged.map((t) => jwtVerify(t, cache.getKey)));
    assert.ok(results.every((r) => r.status === "rejected"));
    assert.equal(fetches, 3);
    await jwtVerify(await k1.sign(), cache.getKey);
    assert.equal(fetches, 3, "known kids never refetch");
  });

  it("reports an unreachable JWKS only while it has no keys at all", async () => {
    const k1 = signingKey("k1");
    let up = false;
    let now = 0;
    const cache = new JwksCache(
      async () => {
        if (!up) throw new Error("connect ECONNREFUSED");
        return [k1.jwk];
      },
      { cooldownMs: 1000, now: () => now },
    );
    await assert.rejects(jwtVerify(await k1.sign(), cache.getKey), JwksUnavailableError);
    up = true;
    now = 1000;
    await jwtVerify(await k1.sign(), cache.getKey);
    // Down again: the keys already fetched keep working.
    up = false;
    now = 5000;
    await jwtVerify(await k1.sign(), cache.getKey);
    await assert.rejects(jwtVerify(await signingKey("k9").sign(), cache.getKey), { code: "ERR_JWKS_NO_MATCHING_KEY" });
  });
});
