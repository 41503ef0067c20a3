import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { effectiveIssuer, requireJwtIssuer } from "../../src/tenants/tenant-jwt.js";
import { issuerMatches, type DerivedJwtClaims } from "../../src/tokens/derived-jwt.js";

const claims = (iss: string, tenant?: string): DerivedJwtClaims => ({ iss, sub: "s", iat: 0, nbf: 0, exp: 1, jti: "j", scope: "a", key_id: "k", ...(tenant === undefined ? {} : { tenant }) });

describe("tenant JWT issuers", () => {
  it("the configured issuer, else the server's for default and one under it for the others", () => {
    assert.equal(effectiveIssuer("https://sigil.example", "default", null), "https://sigil.example");
    assert.equal(effectiveIssuer("https://sigil.example", "acme", null), "https://sigil.example/tenants/acme");
    assert.equal(effectiveIssuer("https://sigil.example", "acme", "https://auth.acme.example"), "https://auth.acme.example");
  });

  it("a configured issuer is printable ASCII without spaces and none of the defaults", () => {
    assert.equal(requireJwtIssuer("", "jwt_issuer", "sigil"), null);
    assert.equal(requireJwtIssuer("https://auth.acme.example", "jwt_issuer", "sigil"), "https://auth.acme.example");
    assert.equal(requireJwtIssuer("sigil2", "jwt_issuer", "sigil"), "sigil2", "only the server's issuer and what lies under its tenants prefix are reserved");
    for (const bad of ["a b", "x".repeat(257), "caf\u00e9", "line\n"]) assert.throws(() => requireJwtIssuer(bad, "tenant.jwt_issuer", "sigil"), /^ConnectError: \[invalid_argument\] tenant\.jwt_issuer: must be 1 to 256/);
    for (const reserved of ["sigil", "sigil/tenants/globex", "sigil/tenants/"]) assert.throws(() => requireJwtIssuer(reserved, "jwt_issuer", "sigil"), /tenants' defaults/);
  });

  it("a token matches when iss is its tenant's and its tenant claim, if any, is that tenant", () => {
    assert.ok(issuerMatches(claims("sigil/tenants/acme", "acme"), "acme", "sigil/tenants/acme"));
    assert.ok(issuerMatches(claims("sigil"), "default", "sigil"), "tokens from before the tenant claim");
    assert.ok(!issuerMatches(claims("sigil/tenants/acme", "globex"), "acme", "sigil/tenants/acme"));
    assert.ok(!issuerMatches(claims("sigil", "acme"), "acme", "sigil/tenants/acme"));
  });
});
