import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConnectError } from "@connectrpc/connect";
import { ConfigError, loadConfig } from "../../src/config/config.js";
import { AuthorizationRequestReader, type RequestParts } from "../../src/gateway/authorization-request.js";
import { ClientAddressResolver } from "../../src/gateway/client-address.js";

const invalid = (pattern: RegExp) => (e: Error) => e instanceof ConnectError && pattern.test(e.rawMessage);

describe("gateway client address (SIGIL_TRUSTED_PROXIES)", () => {
  const trusting = new ClientAddressResolver(["10.0.0.0/8", "2001:db8::/32"]);
  const address = (r: ClientAddressResolver, peer: string | undefined, xff?: string, realIp?: string) => r.resolve(peer, xff, realIp)?.address;

  it("ignores forwarding headers from a peer that is not a trusted proxy, or with no trusted proxies", () => {
    assert.equal(address(trusting, "192.0.2.1", "198.51.100.1", "198.51.100.2"), "192.0.2.1");
    assert.equal(address(new ClientAddressResolver([]), "10.0.0.1", "198.51.100.1"), "10.0.0.1");
    assert.equal(address(new ClientAddressResolver([]), "10.0.0.1", "garbage"), "10.0.0.1", "an ignored header is never parsed");
  });

  it("takes the right-most X-Forwarded-For hop outside the trusted networks, else X-Real-IP", () => {
    assert.equal(address(trusting, "10.0.0.1", "203.0.113.9, 198.51.100.1, 10.1.2.3"), "198.51.100.1", "hops left of it were written by the client");
    assert.equal(address(trusting, "::ffff:10.0.0.1", "198.51.100.1:4711"), "198.51.100.1", "a port is dropped; a mapped peer is trusted");
    assert.equal(address(trusting, "2001:db8::1", "[2001:db8:ffff::5]:80, [2600::1]:443"), "2600::1");
    assert.equal(address(trusting, "10.0.0.1", "10.2.0.1, 10.3.0.1"), "10.2.0.1", "all trusted: where the chain starts");
    assert.equal(address(trusting, "10.0.0.1", undefined, "198.51.100.7"), "198.51.100.7");
    assert.equal(address(trusting, "10.0.0.1", " ", undefined), "10.0.0.1");
  });

  it("refuses a hop that is not an address, and an endless chain of trusted hops, naming the header", () => {
    assert.throws(() => trusting.resolve("10.0.0.1", "198.51.100.1, bogus", undefined), invalid(/^X-Forwarded-For: hop 1 from the right is not an IP address$/));
    assert.throws(() => trusting.resolve("10.0.0.1", undefined, "nope"), invalid(/^X-Real-IP is not an IP address$/));
    const chain = Array.from({ length: 65 }, () => "10.0.0.2").join(",");
    assert.throws(() => trusting.resolve("10.0.0.1", chain, undefined), invalid(/more than 64 hops/));
  });
});

describe("gateway request reader", () => {
  const reader = new AuthorizationRequestReader({ authHeader: "x-api-key", addresses: new ClientAddressResolver([]) });
  const read = (headers: Record<string, string>, extra: Partial<RequestParts> = {}) => reader.read({ headers: (n) => headers[n], query: undefined, peer: "127.0.0.1", ...extra });

  it("takes the credential from SIGIL_AUTH_HEADER first, else Authorization: Bearer; another scheme is no credential", () => {
    assert.deepEqual([read({ "x-api-key": " k1 ", authorization: "Bearer k2" }).credential, read({ authorization: "Bearer k2" }).credential], ["k1", "k2"]);
    assert.equal(read({ "x-api-key": "k1" }).credentialHeader, "x-api-key");
    assert.equal(read({ authorization: "Basic dXNlcjpwYXNz" }).credential, undefined);
    assert.equal(read({}).credential, undefined);
    assert.throws(() => read({ authorization: `Bearer ${"a".repeat(9000)}` }), invalid(/^Authorization: longer than 8192 characters$/));
  });

  it("requires the union of the scope parameters, X-Sigil-Required-Scopes and the configured scopes", () => {
    const r = read({ "x-sigil-required-scopes": "b c" }, { query: "scope=a+b&other=1&scope=d%20e", configuredScopes: "f" });
    assert.deepEqual([...r.requiredScopes].sort(), ["a", "b", "c", "d", "e", "f"]);
    assert.deepEqual(read({}, { query: "x=1" }).requiredScopes, []);
    assert.throws(() => read({}, { query: "scope=%zz" }), invalid(/^scope: not valid percent-encoding$/));
    assert.throws(() => read({ "x-sigil-required-scopes": Array.from({ length: 65 }, (_, i) => `s${i}`).join(" ") }), invalid(/^X-Sigil-Required-Scopes: at most 64 scopes/));
    assert.throws(() => read({}, { query: Array.from({ length: 65 }, (_, i) => `scope=s${i}`).join("&") }), invalid(/^scope: at most 64 scopes/));
  });

  it("takes the audience from X-Sigil-Audience unless configured, bounded", () => {
    assert.equal(read({ "x-sigil-audience": "api" }).audience, "api");
    assert.equal(read({ "x-sigil-audience": "api" }, { configuredAudience: "orders" }).audience, "orders");
    assert.throws(() => read({ "x-sigil-audience": "a".repeat(300) }), invalid(/X-Sigil-Audience/));
  });

  it("restricts to the tenant its sources agree on; disagreeing or bad sources are bad input", () => {
    assert.equal(read({}).tenantId, undefined);
    assert.equal(read({}, { query: "scope=read&tenant_id=acme" }).tenantId, "acme");
    assert.equal(read({ "x-sigil-tenant-id": "acme" }).tenantId, "acme");
    assert.equal(read({ "x-sigil-tenant-id": "acme" }, { configuredTenantId: "acme", query: "tenant_id=acme" }).tenantId, "acme");
    assert.throws(() => read({ "x-sigil-tenant-id": "beta" }, { configuredTenantId: "acme" }), invalid(/^tenant restriction: .* name different tenants$/));
    assert.throws(() => read({}, { query: "tenant_id=beta", configuredTenantId: "acme" }), invalid(/different tenants/));
    assert.throws(() => read({}, { query: "tenant_id=a&tenant_id=a" }), invalid(/^tenant_id: given more than once$/));
    assert.throws(() => read({ "x-sigil-tenant-id": "Not A Tenant" }), invalid(/^X-Sigil-Tenant-Id: must be 1 to 63 characters/));
    assert.throws(() => read({}, { configuredTenantId: "_x" }), invalid(/^context_extensions\[x-sigil-tenant-id\]: /));
    assert.throws(() => read({}, { query: "tenant_id=%zz" }), invalid(/^tenant_id: not valid percent-encoding$/));
  });
});

describe("gateway settings", () => {
  it("reads SIGIL_AUTH_HEADER and SIGIL_TRUSTED_PROXIES, and names them when wrong", () => {
    const c = loadConfig([], { SIGIL_AUTH_HEADER: "X-API-Key", SIGIL_TRUSTED_PROXIES: "10.0.0.0/8, 2001:db8::/32" });
    assert.equal(c.authHeader, "x-api-key");
    assert.deepEqual(c.trustedProxies, ["10.0.0.0/8", "2001:db8::/32"]);
    assert.deepEqual([loadConfig([], {}).authHeader, loadConfig([], {}).trustedProxies], [undefined, []]);
    const refused = (env: Record<string, string>, pattern: RegExp) => assert.throws(() => loadConfig([], env), (e: Error) => e instanceof ConfigError && pattern.test(e.message), JSON.stringify(env));
    refused({ SIGIL_AUTH_HEADER: "X API Key" }, /^SIGIL_AUTH_HEADER \(--auth-header\) must be a header name/);
    refused({ SIGIL_AUTH_HEADER: "Authorization" }, /^SIGIL_AUTH_HEADER \(--auth-header\) must name a header other than Authorization/);
    refused({ SIGIL_TRUSTED_PROXIES: "10.0.0.0/8,10.0.0.1/8" }, /^SIGIL_TRUSTED_PROXIES \(--trusted-proxies\) must be networks like/);
    refused({ SIGIL_TRUSTED_PROXIES: "nginx" }, /^SIGIL_TRUSTED_PROXIES \(--trusted-proxies\) must be networks like/);
  });
});
