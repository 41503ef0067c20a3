import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addRateLimitFields, retryAfterSeconds, type HeaderList } from "../../src/gateway/rate-limit-headers.js";
import type { Verification } from "../../src/service/credential-verifier.js";
import { CredentialKind, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";

const NOW = 1_000_000_000;
const base: Verification = { valid: false, reason: VerifyReason.RATE_LIMITED, kind: CredentialKind.API_KEY };
const fields = (v: Verification) => {
  const out: HeaderList = [];
  addRateLimitFields(out, v, NOW);
  return Object.fromEntries(out);
};

describe("RateLimit / RateLimit-Policy fields", () => {
  it("states a rate limit as q requests per w seconds, scaling a window that is not whole seconds", () => {
    const rate = (requests: number, windowMs: number, burst: number, remaining = 0) => ({
      allowed: false, limit: burst, remaining, resetTime: NOW + 59_001, retryTime: NOW + 1500, config: { requests, windowMs, burst },
    });
    assert.deepEqual(fields({ ...base, rateLimit: rate(100, 60_000, 100) }), { "ratelimit-policy": '"rate";q=100;w=60', ratelimit: '"rate";r=0;t=60' });
    assert.equal(fields({ ...base, rateLimit: rate(10, 1500, 10) })["ratelimit-policy"], '"rate";q=13;w=2;sigil-burst=10', "10 per 1.5 s is 13.3 per 2 s, rounded down; the bucket is no longer q");
    assert.equal(fields({ ...base, rateLimit: rate(60, 60_000, 5) })["ratelimit-policy"], '"rate";q=60;w=60;sigil-burst=5');
    assert.equal(retryAfterSeconds({ ...base, rateLimit: rate(100, 60_000, 100) }, NOW), 2, "Retry-After rounds up, at least 1");
  });

  it("states credits with their refill, and nothing for a key without either", () => {
    const credits = { allowed: false, remaining: 0, nextRefillTime: NOW + 3_599_500, refillAmount: 1000, refillIntervalMs: 86_400_000 };
    assert.deepEqual(fields({ ...base, credits }), { "ratelimit-policy": '"credits";q=1000;w=86400', ratelimit: '"credits";r=0;t=3600' });
    assert.equal(retryAfterSeconds({ ...base, credits }, NOW), 3600);
    const once = { allowed: false, remaining: 0, nextRefillTime: null, refillAmount: null, refillIntervalMs: null };
    assert.deepEqual(fields({ ...base, credits: once }), { ratelimit: '"credits";r=0' }, "credits without refills have no policy (no window)");
    assert.equal(retryAfterSeconds({ ...base, credits: once }, NOW), undefined, "never coming back: no Retry-After");
    assert.deepEqual(fields({ ...base, reason: VerifyReason.VALID, valid: true }), {});
  });
});
