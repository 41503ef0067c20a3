import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { Code, ConnectError } from "@connectrpc/connect";
import BetterSqlite3 from "better-sqlite3";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { formatApiKey, newKeyId } from "../../src/keys/api-key-format.js";
import { VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { METRIC } from "../../src/observability/metric-names.js";
import { grpcJsClient } from "../support/grpc-js-call.js";
import { scrapeSamples, valueOf } from "../support/metrics-scrape.js";
import { createTestDatabase, PostgresCluster, testDialect } from "../support/postgres.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** grpc.health.v1 Check for the whole server: "SERVING", "NOT_SERVING" or the call's error. */
function grpcHealth(server: TestServer): Promise<string> {
  const client = grpcJsClient(server.grpcUrl);
  return new Promise((resolve) => {
    // HealthCheckRequest{service: ""} is empty; the response is field 1 (status), a varint.
    client.makeUnaryRequest("/grpc.health.v1.Health/Check", (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), new grpc.Metadata(), (err, res) => {
      client.close();
      if (err) return resolve(`error ${grpc.status[err.code]}`);
      resolve(({ 1: "SERVING", 2: "NOT_SERVING" } as Record<number, string>)[res![1]!] ?? `status ${res![1]}`);
    });
  });
}

async function httpHealth(server: TestServer): Promise<string> {
  const res = await fetch(`${server.httpUrl}/healthz`);
  const body = (await res.json()) as { status: string };
  assert.equal(res.status, body.status === "SERVING" ? 200 : 503);
  return body.status;
}

async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function codeOf(call: Promise<unknown>): Promise<Code | 0> {
  try {
    await call;
    return 0;
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

/** A well-formed key (valid checksum) no one issued: verifying it needs the database. */
function unknownKey(): string {
  return formatApiKey("sgl", newKeyId()).key;
}

describe(`database outages (${testDialect()})`, () => {
  it(
    "PostgreSQL stopped and restarted under load: cached keys verify, everything else is UNAVAILABLE, health follows, and service resumes",
    { skip: testDialect() !== "postgres" && "runs in the PostgreSQL pass" },
    async () => {
      // A private cluster: stopping the shared one would break tests running beside this one.
      const cluster = await PostgresCluster.create();
      let server: TestServer | undefined;
      let running = true;
      let loops: Array<Promise<void>> = [];
      try {
        const database = await createTestDatabase(cluster.url());
        const live = (server = await startTestServer({ SIGIL_DATABASE_URL: database.url }));
        const admin = createSigilClient({ baseUrl: live.grpcUrl, adminKey: live.adminKey });
        const anon = createSigilClient({ baseUrl: live.grpcUrl });
        const known = (await admin.issueKey({ name: "known", owner: "svc:outage", scopes: ["read"] })).secret;
        assert.equal((await anon.verifyKey({ credential: known })).valid, true);
        // A JWT derived from it verifies too (its tenant's issuer was read before the outage).
        const knownJwt = (await anon.deriveToken({ credential: known })).token;
        assert.equal((await anon.verifyKey({ credential: knownJwt })).valid, true);

        // Load through the whole outage: issues, unknown-key verifications (need the store) and
        // verifications of the known key and of its JWT (answered from cache).
        const codes: Array<{ op: string; code: Code | 0 }> = [];
        let knownFailures = 0;
        loops = [
          (async () => {
            for (let i = 0; running; i++) codes.push({ op: "issue", code: await codeOf(admin.issueKey({ name: `load ${i}`, owner: "svc:outage", scopes: [] })) });
          })(),
          (async () => {
            for (let i = 0; running; i++) codes.push({ op: "verify unknown", code: await codeOf(anon.verifyKey({ credential: unknownKey() })) });
          })(),
          (async () => {
            while (running) {
              for (const credential of [known, knownJwt]) {
                const r = await anon.verifyKey({ credential }).catch(() => undefined);
                if (r?.reason !== VerifyReason.VALID) knownFailures++;
              }
            }
          })(),
        ];
        await sleep(300);

        await cluster.stop();
        await until("gRPC health NOT_SERVING", async () => (await grpcHealth(live)) === "NOT_SERVING", 10_000);
        assert.equal(await httpHealth(live), "NOT_SERVING");
        await sleep(1500);
        assert.equal(await codeOf(admin.issueKey({ name: "during", owner: "svc:outage", scopes: [] })), Code.Unavailable);
        // The metrics say so too.
        const metricsUrl = `http://127.0.0.1:${live.app.metricsPort}/metrics`;
        const during = await scrapeSamples(metricsUrl);
        assert.equal(valueOf(during, METRIC.databaseUp), 0);
        assert.ok(valueOf(during, METRIC.databaseErrors, { kind: "unavailable" }) > 0, "unreachable calls are counted");
        assert.ok(valueOf(during, METRIC.rpcHandled, { grpc_method: "IssueKey", grpc_code: "Unavailable" }) > 0);

        await cluster.start();
        await until("gRPC health SERVING again", async () => (await grpcHealth(live)) === "SERVING", 20_000);
        assert.equal(await httpHealth(live), "SERVING");
        assert.equal(valueOf(await scrapeSamples(metricsUrl), METRIC.databaseUp), 1);
        await until("IssueKey to succeed again", async () => (await codeOf(admin.issueKey({ name: "after", owner: "svc:outage", scopes: [] }))) === 0);
        await sleep(300);
        running = false;
        await Promise.all(loops);

        assert.equal(knownFailures, 0, "the cached key and its JWT verified throughout");
        const failures = codes.filter((c) => c.code !== 0);
        assert.ok(failures.length > 0, "the outage was seen by the load");
        for (const f of failures) assert.equal(Code[f.code], "Unavailable", `${f.op} failed with ${Code[f.code]}`);
        // Calls made after recovery succeed (the tail of each loop).
        for (const op of ["issue", "verify unknown"]) assert.equal(codes.filter((c) => c.op === op).at(-1)?.code, 0, `${op} recovered`);
        assert.ok(!live.logs.some((l) => l.includes("handler failed")), "no call failed as INTERNAL");

        // A revocation after the outage still reaches the cache (the feed resumed).
        const issued = await admin.issueKey({ name: "post", owner: "svc:outage", scopes: [] });
        await admin.revokeKey({ keyId: issued.key!.keyId, reason: "after outage" });
        assert.equal(VerifyReason[(await anon.verifyKey({ credential: issued.secret })).reason], "REVOKED");
      } finally {
        running = false;
        await Promise.all(loops);
        await server?.close();
        // The whole cluster goes, its database with it.
        cluster.destroy();
      }
    },
  );

  it(
    "SQLite: a write lock held past the busy timeout is UNAVAILABLE; cached keys verify and health stays SERVING",
    { skip: testDialect() !== "sqlite" && "runs in the SQLite pass" },
    async () => {
      const server = await startTestServer({ SIGIL_SQLITE_BUSY_TIMEOUT: "200ms" });
      try {
        const admin: SigilClient = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
        const issued = await admin.issueKey({ name: "known", owner: "svc:busy", scopes: [] });
        assert.equal((await admin.verifyKey({ credential: issued.secret })).valid, true);

        // Another writer (as another worker process would) holds the write lock.
        const other = new BetterSqlite3(path.join(server.dataDir, "sigil.db"));
        other.prepare("begin immediate").run();
        try {
          const err = await admin.issueKey({ name: "blocked", owner: "svc:busy", scopes: [] }).then(
            () => assert.fail("IssueKey succeeded while another process held the write lock"),
            (e: unknown) => ConnectError.from(e),
          );
          assert.equal(Code[err.code], "Unavailable");
          assert.match(err.rawMessage, /^database unavailable \(SQLITE_BUSY/);
          assert.equal(Code[await codeOf(admin.revokeKey({ keyId: issued.key!.keyId, reason: "blocked" }))], "Unavailable");
          assert.equal((await admin.verifyKey({ credential: issued.secret })).valid, true, "reads are not blocked");
          assert.equal(await grpcHealth(server), "SERVING");
          const samples = await scrapeSamples(`http://127.0.0.1:${server.app.metricsPort}/metrics`);
          assert.ok(valueOf(samples, METRIC.databaseErrors, { kind: "busy" }) >= 2, "the lock waits that ran out are counted as busy");
          assert.equal(valueOf(samples, METRIC.databaseErrors, { kind: "unavailable" }), 0);
          assert.equal(valueOf(samples, METRIC.databaseUp), 1, "a busy lock is not an outage");
        } finally {
          other.prepare("rollback").run();
          other.close();
        }
        assert.equal(await codeOf(admin.issueKey({ name: "after", owner: "svc:busy", scopes: [] })), 0);
        assert.equal(await httpHealth(server), "SERVING");
      } finally {
        await server.close();
      }
    },
  );
});
