import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { answerVerification } from "../../src/gateway/authorization-answer.js";
import { CredentialKind, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";

/** The HTTP status of every failure; a new VerifyReason fails this test until its status is decided. */
const STATUS: Record<string, number> = {
  NOT_FOUND: 401,
  MALFORMED: 401,
  EXPIRED: 401,
  REVOKED: 401,
  BAD_SIGNATURE: 401,
  NOT_YET_VALID: 401,
  AUDIENCE_MISMATCH: 401,
  UNKNOWN_CAVEAT: 401,
  DISABLED: 401,
  ALGORITHM_NOT_ALLOWED: 401,
  ISSUER_MISMATCH: 401,
  LIFETIME_TOO_LONG: 401,
  REVOCATIONS_STALE: 401,
  KEYS_UNAVAILABLE: 401,
  INSUFFICIENT_SCOPE: 403,
  CLIENT_NETWORK_NOT_ALLOWED: 403,
  RATE_LIMITED: 429,
  USAGE_EXHAUSTED: 429,
  CLIENT_THROTTLED: 429,
};

describe("gateway answers", () => {
  it("gives every failure reason its own status, challenge and reason name", () => {
    const reasons = Object.entries(VerifyReason).filter(([name, v]) => typeof v === "number" && name !== "UNSPECIFIED" && name !== "VALID");
    for (const [name, reason] of reasons) {
      assert.ok(name in STATUS, `VerifyReason.${name} has no gateway status: add it to authorization-answer.ts and here`);
      const a = answerVerification({ valid: false, reason: reason as VerifyReason, kind: CredentialKind.API_KEY, keyId: "k1" }, ["read"], 0, 3);
      assert.equal(a.status, STATUS[name], name);
      assert.equal(a.identity.length, 0, `${name}: no identity on a denial`);
      const headers = Object.fromEntries(a.response);
      assert.equal(headers["x-sigil-reason"], name.toLowerCase());
      if (a.status === 401) assert.match(headers["www-authenticate"]!, /^Bearer realm="sigil", error="invalid_token", error_description="[^"]+"$/, name);
      if (a.status === 403) assert.match(headers["www-authenticate"]!, /error="insufficient_scope"/, name);
      assert.ok(!/not valid"/.test(headers["www-authenticate"] ?? ""), `${name} has a description of its own`);
    }
    const throttled = answerVerification({ valid: false, reason: VerifyReason.CLIENT_THROTTLED, kind: CredentialKind.API_KEY }, [], 0, 3);
    assert.equal(Object.fromEntries(throttled.response)["retry-after"], "3", "a throttled client waits SIGIL_VERIFY_FAILURE_REFILL");
    const scope = answerVerification({ valid: false, reason: VerifyReason.INSUFFICIENT_SCOPE, kind: CredentialKind.API_KEY }, ["read", "write"], 0, 3);
    assert.match(Object.fromEntries(scope.response)["www-authenticate"]!, /, scope="read write"$/);
  });
});
