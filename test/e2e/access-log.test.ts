import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConnectError } from "@connectrpc/connect";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { testDialect } from "../support/postgres.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

/**
 * Issue #11 item 4: per-call lines of the hot RPCs (VerifyKey, BatchVerifyKeys) at debug by
 * default, SIGIL_ACCESS_LOG=all|errors|none to choose, mutations and failures at info; every call
 * line carries the request id (the caller's x-request-id, or a new one), echoed in the response.
 */

const INFO = 30;
const DEBUG = 20;

type Line = Record<string, unknown>;

function callLines(server: TestServer, from: number): Line[] {
  return server.logs
    .slice(from)
    .map((l) => JSON.parse(l) as Line)
    .filter((l) => l.msg === "call");
}

/** Runs one of each kind of call and returns the call lines it wrote, by method and code. */
async function callMix(server: TestServer): Promise<Map<string, Line>> {
  const admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
  const anon = createSigilClient({ baseUrl: server.grpcUrl });
  const from = server.logs.length;
  const { secret } = await admin.issueKey({ name: "logged", owner: "svc:logged" });
  await anon.verifyKey({ credential: secret });
  await anon.batchVerifyKeys({ requests: [{ credential: secret }] });
  await assert.rejects(anon.batchVerifyKeys({ requests: [] }), /requests/);
  await admin.listKeys({});
  await assert.rejects(anon.listKeys({}));
  // The gateway's forward-auth route, a hot path like VerifyKey.
  const allowed = await fetch(`${server.httpUrl}/v1/authorize`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(allowed.status, 200);
  assert.match(allowed.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
  const lines = new Map<string, Line>();
  for (const l of callLines(server, from)) {
    const method = String(l.method);
    lines.set(`${method.startsWith("/") ? method : method.split("/")[1]} ${String(l.code)}`, l);
  }
  return lines;
}

async function withServer<T>(env: Record<string, string>, fn: (server: TestServer) => Promise<T>): Promise<T> {
  const server = await startTestServer(env);
  try {
    return await fn(server);
  } finally {
    await server.close();
  }
}

function levels(lines: Map<string, Line>): Record<string, unknown> {
  return Object.fromEntries([...lines].map(([k, l]) => [k, l.level]).sort());
}

describe(`access log (${testDialect()})`, () => {
  it("default: successful VerifyKey and BatchVerifyKeys at debug, failures and every other call at info", async () => {
    const atInfo = await withServer({}, callMix);
    assert.deepEqual(levels(atInfo), {
      "BatchVerifyKeys INVALID_ARGUMENT": INFO,
      "IssueKey OK": INFO,
      "ListKeys OK": INFO,
      "ListKeys UNAUTHENTICATED": INFO,
    });
    const atDebug = await withServer({ SIGIL_LOG_LEVEL: "debug" }, callMix);
    assert.deepEqual(levels(atDebug), {
      "BatchVerifyKeys INVALID_ARGUMENT": INFO,
      "BatchVerifyKeys OK": DEBUG,
      "IssueKey OK": INFO,
      "ListKeys OK": INFO,
      "ListKeys UNAUTHENTICATED": INFO,
      "VerifyKey OK": DEBUG,
      "/v1/authorize OK": DEBUG,
    });
  });

  it("SIGIL_ACCESS_LOG=all, errors and none", async () => {
    const all = await withServer({ SIGIL_ACCESS_LOG: "all" }, callMix);
    assert.deepEqual(levels(all), {
      "BatchVerifyKeys INVALID_ARGUMENT": INFO,
      "BatchVerifyKeys OK": INFO,
      "IssueKey OK": INFO,
      "ListKeys OK": INFO,
      "ListKeys UNAUTHENTICATED": INFO,
      "VerifyKey OK": INFO,
      "/v1/authorize OK": INFO,
    });
    // Failures and mutations only, even at debug.
    const errors = await withServer({ SIGIL_ACCESS_LOG: "errors", SIGIL_LOG_LEVEL: "debug" }, callMix);
    assert.deepEqual(levels(errors), { "BatchVerifyKeys INVALID_ARGUMENT": INFO, "IssueKey OK": INFO, "ListKeys UNAUTHENTICATED": INFO });
    const none = await withServer({ SIGIL_ACCESS_LOG: "none", SIGIL_LOG_LEVEL: "debug" }, callMix);
    assert.deepEqual(levels(none), {});
  });

  it("every call line carries the request id: the caller's x-request-id, or a new one, echoed on every protocol", async () => {
    await withServer({ SIGIL_ACCESS_LOG: "all" }, async (server) => {
      const clients: Array<[string, SigilClient]> = [
        ["grpc", createSigilClient({ baseUrl: server.grpcUrl })],
        ["connect", createSigilClient({ baseUrl: server.httpUrl, protocol: "connect" })],
        ["grpc-web", createSigilClient({ baseUrl: server.httpUrl, protocol: "grpc-web" })],
      ];
      for (const [protocol, client] of clients) {
        const call = async (requestId: string | undefined) => {
          const from = server.logs.length;
          let echoed: string | null = null;
          await client.verifyKey({ credential: "not a key" }, { headers: requestId ? { "x-request-id": requestId } : {}, onHeader: (h) => (echoed = h.get("x-request-id")) });
          const lines = callLines(server, from);
          assert.equal(lines.length, 1, protocol);
          return { echoed: echoed as string | null, logged: lines[0]!.requestId };
        };
        const own = await call(`req-${protocol}-1`);
        assert.deepEqual(own, { echoed: `req-${protocol}-1`, logged: `req-${protocol}-1` }, protocol);
        const fresh = await call(undefined);
        assert.match(fresh.echoed ?? "", /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, protocol);
        assert.equal(fresh.logged, fresh.echoed);
        // Not an acceptable id (too long, or with characters an API key holds): replaced, never written.
        for (const bad of ["x".repeat(129), "sk_live_abc", "two words"]) {
          const replaced = await call(bad);
          assert.notEqual(replaced.echoed, bad);
          assert.equal(replaced.logged, replaced.echoed);
          assert.ok(!server.logs.some((l) => l.includes(bad)), `${protocol}: ${bad} is not logged`);
        }
      }
    });
  });

  it("a call refused before its handler (too large) is logged with the request id, and the id is echoed", async () => {
    await withServer({}, async (server) => {
      for (const [protocol, client] of [
        ["grpc", createSigilClient({ baseUrl: server.grpcUrl })],
        ["connect", createSigilClient({ baseUrl: server.httpUrl, protocol: "connect" })],
      ] as const) {
        const from = server.logs.length;
        const err = await client.verifyKey({ credential: "x".repeat(2 * 1024 * 1024) }, { headers: { "x-request-id": `big-${protocol}` } }).then(
          () => assert.fail("a 2 MiB VerifyKey is refused"),
          (e: unknown) => ConnectError.from(e),
        );
        assert.equal(err.metadata.get("x-request-id"), `big-${protocol}`, protocol);
        const lines = callLines(server, from);
        assert.equal(lines.length, 1, protocol);
        assert.equal(lines[0]!.requestId, `big-${protocol}`);
        assert.equal(lines[0]!.code, "RESOURCE_EXHAUSTED");
      }
    });
  });
});
