import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createSigilClient, VerifyReason } from "../../clients/typescript/src/index.js";
import { METRIC } from "../../src/observability/metric-names.js";
import { promtoolCheck, scrape, parseExposition, valueOf } from "../support/metrics-scrape.js";
import { testDialect } from "../support/postgres.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

async function exercise(server: TestServer): Promise<string> {
  const admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
  const anon = createSigilClient({ baseUrl: server.grpcUrl });
  for (const tenantId of ["t1", "t2", "t3"]) {
    await admin.createTenant({ tenantId });
    const { secret } = await admin.issueKey({ tenantId, name: "m", owner: "svc", scopes: ["read"] });
    assert.equal((await anon.verifyKey({ credential: secret })).valid, true);
    assert.equal((await anon.verifyKey({ credential: secret, requiredScopes: ["write"] })).reason, VerifyReason.INSUFFICIENT_SCOPE);
  }
  const { secret } = await admin.issueKey({ name: "m", owner: "svc" });
  assert.equal((await anon.verifyKey({ credential: secret })).valid, true);
  assert.equal((await anon.verifyKey({ credential: "not a key" })).reason, VerifyReason.MALFORMED);
  return scrape(`http://127.0.0.1:${server.app.metricsPort}/metrics`);
}

describe(`the opt-in tenant label of sigil_verifications_total (${testDialect()})`, () => {
  it("off by default: no tenant label anywhere", async () => {
    const server = await startTestServer();
    try {
      const text = await exercise(server);
      assert.ok(!/tenant="/.test(text), "no metric has a tenant label");
      assert.equal(valueOf(parseExposition(text), METRIC.verifications, { kind: "api_key", reason: "valid" }), 4);
      const check = promtoolCheck(text);
      assert.equal(check.code, 0, check.output);
    } finally {
      await server.close();
    }
  });

  it("SIGIL_METRICS_TENANT_LABEL=2: the first two tenants by name, the rest _other, unknown keys _none; promtool accepts it", async () => {
    const server = await startTestServer({ SIGIL_METRICS_TENANT_LABEL: "2" });
    try {
      const text = await exercise(server);
      const samples = parseExposition(text);
      const count = (tenant: string, reason: string) => valueOf(samples, METRIC.verifications, { kind: "api_key", reason, tenant });
      assert.deepEqual([count("t1", "valid"), count("t1", "insufficient_scope"), count("t2", "valid")], [1, 1, 1]);
      assert.deepEqual([count("t3", "valid"), count("default", "valid")], [0, 0], "past the bound");
      assert.deepEqual([count("_other", "valid"), count("_other", "insufficient_scope")], [2, 1], "t3 and default share _other");
      assert.equal(valueOf(samples, METRIC.verifications, { reason: "malformed", tenant: "_none" }), 1);
      const tenants = new Set(samples.filter((s) => s.name === METRIC.verifications).map((s) => s.labels.tenant));
      assert.deepEqual([...tenants].sort(), ["_none", "_other", "t1", "t2"]);
      // Only this family carries it.
      assert.ok(samples.filter((s) => s.labels.tenant !== undefined).every((s) => s.name === METRIC.verifications));
      const check = promtoolCheck(text);
      assert.equal(check.code, 0, check.output);
    } finally {
      await server.close();
    }
  });
});
