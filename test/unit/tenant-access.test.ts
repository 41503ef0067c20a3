import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { accessRefusal, grantRefusal, reaches, resolveTenant } from "../../src/tenants/tenant-access.js";
import { requireTenantId } from "../../src/tenants/tenant-id.js";
import { activeKeysRefusal, termsRefusal } from "../../src/tenants/tenant-policy.js";

const platform = { keyId: "P", tenantId: "default", scopes: ["sigil:admin"] };
const acmeAdmin = { keyId: "A", tenantId: "acme", scopes: ["sigil:keys.read", "sigil:keys.write"] };

describe("tenant access", () => {
  it("a key of default reaches every tenant; another key its own only", () => {
    assert.ok(reaches(platform, "acme") && reaches(platform, "default"));
    assert.ok(reaches(acmeAdmin, "acme") && !reaches(acmeAdmin, "globex") && !reaches(acmeAdmin, "default"));
    assert.equal(resolveTenant(acmeAdmin, undefined), "acme");
    assert.throws(() => resolveTenant(acmeAdmin, "globex"), (e: { code: Code; rawMessage: string }) => e.code === Code.NotFound && e.rawMessage === "tenant globex not found");
  });

  it("the role is checked before the tenant, so a key without it learns nothing of other tenants", () => {
    assert.equal(accessRefusal(acmeAdmin, { role: "sigil:audit.read", tenantId: "globex" })?.code, Code.PermissionDenied);
    assert.equal(accessRefusal(acmeAdmin, { role: "sigil:keys.read", tenantId: "globex" })?.code, Code.NotFound);
    assert.equal(accessRefusal(acmeAdmin, { role: "sigil:keys.read", tenantId: "acme" }), undefined);
    assert.equal(accessRefusal(platform, { role: "sigil:tenants.admin", tenantId: "globex" }), undefined, "sigil:admin holds every role");
    assert.equal(accessRefusal({ ...acmeAdmin, scopes: ["api:read"] }, { role: "any" })?.code, Code.PermissionDenied);
  });

  it("grants: only roles held, platform roles only in default, other sigil: scopes only with sigil:admin", () => {
    assert.equal(grantRefusal(acmeAdmin, "acme", ["api:read", "sigil:keys.read"]), undefined);
    assert.equal(grantRefusal(acmeAdmin, "acme", ["sigil:keys.revoke"])?.code, Code.PermissionDenied);
    assert.equal(grantRefusal(acmeAdmin, "acme", ["sigil:custom"])?.code, Code.PermissionDenied);
    assert.equal(grantRefusal(platform, "acme", ["sigil:tenants.admin"])?.code, Code.InvalidArgument);
    assert.equal(grantRefusal(platform, "default", ["sigil:tenants.admin", "sigil:custom"]), undefined);
  });

  it("tenant ids are bounded and shaped", () => {
    for (const ok of ["a", "acme", "a-1", "0", "x".repeat(63)]) assert.equal(requireTenantId(ok), ok);
    for (const bad of ["", "-a", "A", "a_b", "a b", "x".repeat(64), "é"]) assert.throws(() => requireTenantId(bad), (e: { code: Code }) => e.code === Code.InvalidArgument);
  });

  it("policies: expiry, lifetime, scope patterns (roles exempt, * any run, other characters literal), active keys", () => {
    const now = 1_000_000;
    const policy = { requireExpiry: true, maxKeyLifetimeMs: 1000, allowedScopePatterns: ["orders:*", "a.b"] };
    assert.match(termsRefusal("t", policy, { expireTime: null }, now)!.rawMessage, /policy require_expiry/);
    assert.match(termsRefusal("t", policy, { expireTime: now + 1001 }, now)!.rawMessage, /policy max_key_lifetime/);
    assert.equal(termsRefusal("t", policy, { expireTime: now + 1000, scopes: ["orders:read", "orders:", "a.b", "sigil:keys.read"] }, now), undefined);
    assert.match(termsRefusal("t", policy, { scopes: ["aXb"] }, now)!.rawMessage, /policy allowed_scope_patterns: aXb matches none/);
    assert.equal(termsRefusal("t", {}, { expireTime: null, scopes: ["x"] }, now), undefined);
    assert.equal(activeKeysRefusal("t", { maxActiveKeys: 2 }, 1, 1), undefined);
    assert.equal(activeKeysRefusal("t", { maxActiveKeys: 2 }, 1, 2)?.code, Code.FailedPrecondition);
  });
});
