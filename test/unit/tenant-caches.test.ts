import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { FeedUpdate } from "../../src/cache/change-feed-follower.js";
import type { ChangeRow } from "../../src/store/tables/change-feed-table.js";
import { TenantIssuers } from "../../src/tenants/tenant-issuers.js";
import { TenantNetworkBoundaries } from "../../src/tenants/tenant-network-boundaries.js";

const change = (seq: number, action: string, tenantId: string, keyId: string | null = null): ChangeRow =>
  ({ seq, action, tenant_id: tenantId, key_id: keyId, signing_key_id: null, reason: null, actor_key_id: null, time: seq }) as ChangeRow;
const applied = (...changes: ChangeRow[]): FeedUpdate => ({ changes, reset: false, lastSeq: changes.at(-1)?.seq ?? 0 });
const reset: FeedUpdate = { changes: [], reset: true, lastSeq: 99 };

describe("TenantIssuers", () => {
  it("reads a tenant's issuer once and keeps it (no timer) until the feed says the tenant changed; a reset drops every tenant", async () => {
    const stored = new Map([["acme", "https://a1"], ["globex", "https://g1"]]);
    const reads: string[] = [];
    const issuers = new TenantIssuers(async (tenantId) => {
      reads.push(tenantId);
      return stored.get(tenantId)!;
    });
    assert.equal(await issuers.issuerOf("acme"), "https://a1");
    assert.equal(await issuers.issuerOf("globex"), "https://g1");
    stored.set("acme", "https://a2");
    stored.set("globex", "https://g2");
    assert.equal(issuers.issuerOf("acme"), "https://a1", "synchronous, and unchanged without a feed entry");
    // Other rows (a key's revocation, another tenant's change) drop nothing of acme's.
    issuers.applyFeed(applied(change(1, "revoke", "acme", "k1"), change(2, "tenant_update", "initech")));
    assert.equal(issuers.issuerOf("acme"), "https://a1");
    issuers.applyFeed(applied(change(3, "tenant_update", "acme")));
    assert.equal(await issuers.issuerOf("acme"), "https://a2", "read again at the tenant_update entry");
    assert.equal(issuers.issuerOf("globex"), "https://g1");
    // A follower that lost its place cannot know which tenants changed: all are read again.
    stored.set("acme", "https://a3");
    issuers.applyFeed(reset);
    assert.ok(issuers.issuerOf("acme") instanceof Promise);
    assert.equal(await issuers.issuerOf("globex"), "https://g2");
    assert.equal(await issuers.issuerOf("acme"), "https://a3");
    assert.deepEqual(reads, ["acme", "globex", "acme", "acme", "globex"]);
  });

  it("keeps the last issuer read while the database is unreachable (reads fail); UpdateTenant's own invalidate drops it at once", async () => {
    let reachable = true;
    const issuers = new TenantIssuers(async () => {
      if (!reachable) throw new Error("database unreachable");
      return "https://a1";
    });
    assert.equal(await issuers.issuerOf("acme"), "https://a1");
    reachable = false;
    assert.equal(issuers.issuerOf("acme"), "https://a1", "answered from memory, no read");
    issuers.invalidate("acme");
    await assert.rejects(issuers.issuerOf("acme") as Promise<string>, /database unreachable/);
    reachable = true;
    assert.equal(await issuers.issuerOf("acme"), "https://a1");
  });

  it("stays within its capacity", async () => {
    let reads = 0;
    const issuers = new TenantIssuers(async (tenantId) => {
      reads++;
      return `https://${tenantId}`;
    }, { capacity: 2 });
    for (const tenantId of ["a", "b", "c"]) await issuers.issuerOf(tenantId);
    assert.equal(issuers.issuerOf("c"), "https://c");
    assert.ok(issuers.issuerOf("a") instanceof Promise, "the least recently used went");
    assert.equal(reads, 4);
  });
});

describe("TenantNetworkBoundaries", () => {
  it("compiles a tenant's boundary once, drops it at its tenant_update entry, and drops all at a reset", async () => {
    const policies = new Map<string, { allowedNetworks?: string[] }>([["acme", { allowedNetworks: ["10.0.0.0/8"] }], ["globex", {}]]);
    const boundaries = new TenantNetworkBoundaries(async (tenantId) => policies.get(tenantId) ?? {}, { capacity: 10 });
    const acme = await boundaries.of("acme");
    assert.ok(acme !== null);
    assert.equal(await boundaries.of("globex"), null, "no boundary: any network");
    assert.equal(boundaries.of("acme"), acme, "synchronous once known");
    policies.set("acme", {});
    policies.set("globex", { allowedNetworks: ["192.0.2.0/24"] });
    boundaries.applyFeed(applied(change(1, "tenant_update", "acme")));
    assert.equal(await boundaries.of("acme"), null);
    assert.equal(boundaries.of("globex"), null, "untouched");
    boundaries.applyFeed(reset);
    assert.ok((await boundaries.of("globex")) !== null);
  });
});
