import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { createSigilClient, TokenFormat, type SigilClient } from "../../clients/typescript/src/index.js";
import { METRIC } from "../../src/observability/metric-names.js";
import { scrapeSamples, valueOf } from "../support/metrics-scrape.js";
import { OtlpReceiver, type ReceivedSpan } from "../support/otlp-receiver.js";
import { testDialect } from "../support/postgres.js";
import { startTestServer } from "../support/test-server.js";

/**
 * Issue #11 item 2: with an OTLP endpoint set, every RPC is a server span that continues the
 * caller's W3C trace, with the RPC semantic-convention attributes; database calls on a cache miss
 * and a mutation's transaction are its children; no secret reaches an attribute.
 */

function traceparent(): { header: string; traceId: string; spanId: string } {
  const traceId = randomBytes(16).toString("hex");
  const spanId = randomBytes(8).toString("hex");
  return { header: `00-${traceId}-${spanId}-01`, traceId, spanId };
}

/** The calls' spans, with the client's traceparent and x-request-id, and the echoed request id. */
async function traced<T>(call: (options: { headers: Record<string, string>; onHeader: (h: Headers) => void }) => Promise<T>, requestId?: string) {
  const parent = traceparent();
  let echoed: string | null = null;
  const result = await call({
    headers: { traceparent: parent.header, ...(requestId ? { "x-request-id": requestId } : {}) },
    onHeader: (h) => (echoed = h.get("x-request-id")),
  });
  return { parent, result, echoed: echoed as string | null };
}

function serverSpan(spans: readonly ReceivedSpan[], traceId: string): ReceivedSpan {
  const found = spans.filter((s) => s.traceId === traceId && s.kind === 2);
  assert.equal(found.length, 1, `one server span in trace ${traceId}: ${JSON.stringify(spans.map((s) => [s.traceId, s.name]))}`);
  return found[0]!;
}

function descendants(spans: readonly ReceivedSpan[], root: ReceivedSpan): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  const walk = (id: string) => {
    for (const s of spans) {
      if (s.traceId === root.traceId && s.parentSpanId === id) {
        out.push(s);
        walk(s.spanId);
      }
    }
  };
  walk(root.spanId);
  return out;
}

describe(`OpenTelemetry traces (${testDialect()})`, () => {
  it("a span per RPC on both listeners continues the caller's trace; cache misses and mutations have database spans; no secret in any attribute", async () => {
    const receiver = new OtlpReceiver();
    const endpoint = await receiver.start();
    const env = { SIGIL_OTEL_ENDPOINT: endpoint, OTEL_SERVICE_NAME: "sigil-under-test" } as Record<string, string>;
    const a = await startTestServer(env);
    const b = await startTestServer(env, { join: a });
    const secrets: string[] = [a.adminKey];
    let closed = false;
    try {
      const admin = createSigilClient({ baseUrl: a.grpcUrl, adminKey: a.adminKey });
      const issue = await traced((o) => admin.issueKey({ name: "traced", owner: "svc:traced", scopes: ["read"] }, o), "issue-req.1");
      const secret = issue.result.secret;
      secrets.push(secret);
      assert.equal(issue.echoed, "issue-req.1", "the caller's request id is echoed");
      // B verifies once it applied the issue from the feed (a read racing that invalidation is not cached).
      const bMetrics = `http://127.0.0.1:${b.app.metricsPort}/metrics`;
      for (const deadline = Date.now() + 15_000; valueOf(await scrapeSamples(bMetrics), METRIC.feedChangesApplied, { action: "issue" }) < 1; ) {
        assert.ok(Date.now() < deadline, "B applied the issue");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }

      const grpcB: SigilClient = createSigilClient({ baseUrl: b.grpcUrl });
      const connectB: SigilClient = createSigilClient({ baseUrl: b.httpUrl, protocol: "connect" });
      const webB: SigilClient = createSigilClient({ baseUrl: b.httpUrl, protocol: "grpc-web" });
      const miss = await traced((o) => grpcB.verifyKey({ credential: secret }, o));
      const hit = await traced((o) => grpcB.verifyKey({ credential: secret }, o));
      const viaConnect = await traced((o) => connectB.verifyKey({ credential: secret }, o), "connect-req");
      const viaWeb = await traced((o) => webB.verifyKey({ credential: secret }, o));
      for (const call of [miss, hit, viaConnect, viaWeb]) assert.equal(call.result.valid, true);
      assert.equal(viaConnect.echoed, "connect-req");
      assert.match(miss.echoed ?? "", /^[0-9a-f-]{36}$/, "a new request id when the caller sent none");
      const derived = await traced((o) => grpcB.deriveToken({ credential: secret, format: TokenFormat.JWT }, o));
      secrets.push(derived.result.token);
      const jwtVerified = await traced((o) => grpcB.verifyKey({ credential: derived.result.token }, o));
      assert.equal(jwtVerified.result.valid, true);
      // The gateway's forward-auth route is traced like a call.
      const routeParent = traceparent();
      const routed = await fetch(`${b.httpUrl}/v1/authorize`, { headers: { authorization: `Bearer ${secret}`, traceparent: routeParent.header } });
      assert.equal(routed.status, 200);
      // Without a traceparent: a trace of Sigil's own.
      await grpcB.verifyKey({ credential: secret });

      await b.close();
      await a.close();
      closed = true;
      const spans = receiver.spans;
      assert.deepEqual([...receiver.contentTypes.keys()], ["application/json"], "OTLP/JSON by default");

      const issued = serverSpan(spans, issue.parent.traceId);
      assert.equal(issued.parentSpanId, issue.parent.spanId, "the caller's span is the parent");
      assert.equal(issued.name, "sigil.v1.KeyService/IssueKey");
      assert.equal(issued.attributes["rpc.system"], "grpc");
      assert.equal(issued.attributes["rpc.service"], "sigil.v1.KeyService");
      assert.equal(issued.attributes["rpc.method"], "IssueKey");
      assert.equal(issued.attributes["rpc.grpc.status_code"], 0);
      assert.equal(issued.attributes["sigil.request_id"], "issue-req.1");
      assert.equal(issued.resource["service.name"], "sigil-under-test");
      const issueChildren = descendants(spans, issued);
      assert.ok(issueChildren.some((s) => s.name === "transaction"), `the mutation's transaction: ${issueChildren.map((s) => s.name).join(", ")}`);
      assert.ok(issueChildren.some((s) => s.name === "INSERT keys" && s.attributes["db.collection.name"] === "keys" && s.attributes["db.operation.name"] === "INSERT"));
      const system = testDialect() === "postgres" ? "postgresql" : "sqlite";
      assert.ok(issueChildren.every((s) => s.kind === 3 && s.attributes["db.system.name"] === system));

      const missSpan = serverSpan(spans, miss.parent.traceId);
      assert.equal(missSpan.attributes["rpc.method"], "VerifyKey");
      assert.ok(descendants(spans, missSpan).some((s) => s.name === "SELECT keys"), "a cache miss reads the database, in a child span");
      const hitSpan = serverSpan(spans, hit.parent.traceId);
      assert.deepEqual(descendants(spans, hitSpan).map((s) => s.name), [], "a cache hit makes no database span");

      const connectSpan = serverSpan(spans, viaConnect.parent.traceId);
      assert.equal(connectSpan.attributes["rpc.system"], "connect_rpc");
      assert.equal(connectSpan.attributes["sigil.protocol"], "connect");
      assert.equal(connectSpan.attributes["sigil.request_id"], "connect-req");
      const webSpan = serverSpan(spans, viaWeb.parent.traceId);
      assert.equal(webSpan.attributes["rpc.system"], "grpc");
      assert.equal(webSpan.attributes["sigil.protocol"], "grpc-web");
      assert.equal(webSpan.attributes["rpc.grpc.status_code"], 0);
      assert.equal(serverSpan(spans, derived.parent.traceId).attributes["rpc.method"], "DeriveToken");

      const routeSpan = serverSpan(spans, routeParent.traceId);
      assert.equal(routeSpan.name, "/v1/authorize");
      assert.equal(routeSpan.parentSpanId, routeParent.spanId);
      assert.deepEqual([routeSpan.attributes["http.route"], routeSpan.attributes["sigil.protocol"], routeSpan.attributes["sigil.status_code"]], ["/v1/authorize", "http", 0]);

      const callerTraces = new Set([issue, miss, hit, viaConnect, viaWeb, derived, jwtVerified].map((c) => c.parent.traceId));
      const ownTrace = spans.filter((s) => s.kind === 2 && !callerTraces.has(s.traceId) && s.name.endsWith("/VerifyKey"));
      assert.ok(ownTrace.length >= 1 && ownTrace.every((s) => s.parentSpanId === ""), "a call without traceparent starts its own trace");

      // Nothing secret anywhere in what reached the collector: attributes, names, resource.
      const everything = receiver.bodies.join("\n");
      for (const s of secrets) assert.ok(!everything.includes(s), "no key, admin key or token in any span");
      for (const s of spans) for (const v of Object.values(s.attributes)) assert.ok(typeof v !== "string" || v.length <= 128, `attribute value ${String(v)} is short`);
    } finally {
      if (!closed) {
        await b.close();
        await a.close();
      }
      await receiver.close();
    }
  });

  it("honours OTEL_TRACES_SAMPLER/OTEL_TRACES_SAMPLER_ARG (a caller's sampled trace continues, its unsampled one and new ones at ratio 0 make no span) and OTLP/protobuf", async () => {
    const receiver = new OtlpReceiver();
    const endpoint = await receiver.start();
    const server = await startTestServer({
      SIGIL_OTEL_ENDPOINT: endpoint,
      OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
      OTEL_TRACES_SAMPLER_ARG: "0",
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/protobuf",
    });
    let closed = false;
    try {
      const admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
      const { secret } = await admin.issueKey({ name: "sampled", owner: "svc:sampled", scopes: ["read"] });
      const client = createSigilClient({ baseUrl: server.grpcUrl });
      const sampled = traceparent();
      const unsampled = traceparent();
      for (let i = 0; i < 5; i++) await client.verifyKey({ credential: secret });
      await client.verifyKey({ credential: secret }, { headers: { traceparent: sampled.header } });
      await client.verifyKey({ credential: secret }, { headers: { traceparent: unsampled.header.replace(/-01$/, "-00") } });
      await server.close();
      closed = true;
      const servers = receiver.spans.filter((s) => s.kind === 2);
      assert.deepEqual(
        servers.map((s) => [s.traceId, s.parentSpanId, s.attributes["rpc.method"]]),
        [[sampled.traceId, sampled.spanId, "VerifyKey"]],
        "only the call whose caller sampled its trace is a span",
      );
      assert.deepEqual([...receiver.contentTypes.keys()], ["application/x-protobuf"]);
    } finally {
      if (!closed) await server.close();
      await receiver.close();
    }
  });

  it("off by default: no tracer, and the listening line says so", async () => {
    const server = await startTestServer();
    try {
      const line = server.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === "sigil is listening");
      assert.equal(line?.tracing, "off");
    } finally {
      await server.close();
    }
  });
});
