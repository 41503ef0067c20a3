import assert from "node:assert/strict";
import cluster, { type Worker } from "node:cluster";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import BetterSqlite3 from "better-sqlite3";
import pg from "pg";
import { createSigilClient } from "../../clients/typescript/src/index.js";
import { CLI_MAIN, runCli, type CliRun } from "../support/cli-process.js";
import { createTestDatabase, databaseForTest, PostgresCluster, testDialect } from "../support/postgres.js";
import { startSigilProcess } from "../support/sigil-process.js";

/** A port of 127.0.0.1 held by someone else for the test's duration. */
async function occupiedPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as { port: number }).port, server };
}

function assertOneLine(run: CliRun, line: string | RegExp): void {
  assert.equal(run.code, 1, `exit code; stderr: ${run.stderr}`);
  const lines = run.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line on stderr, got:\n${run.stderr}`);
  if (typeof line === "string") assert.equal(lines[0], line);
  else assert.match(lines[0]!, line);
}

/** How many bootstrap (first admin) keys the database holds. */
async function bootstrapKeys(databaseUrl: string): Promise<number> {
  const query = "select count(*) as n from keys where owner = 'sigil:bootstrap'";
  if (databaseUrl.startsWith("sqlite:")) {
    const file = databaseUrl.slice("sqlite:".length);
    if (!existsSync(file)) return 0;
    const db = new BetterSqlite3(file, { readonly: true });
    try {
      return (db.prepare(query).get() as { n: number }).n;
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    // A start that failed before migrating (the supervisor's metrics port taken) left no table at all.
    if ((await client.query("select to_regclass('keys') as t")).rows[0].t === null) return 0;
    return Number((await client.query(query)).rows[0].n);
  } finally {
    await client.end();
  }
}

describe(`start-up that fails well (${testDialect()})`, () => {
  let root: string;
  let n = 0;
  const dataDir = () => path.join(root, `d${n++}`);
  before(() => {
    root = mkdtempSync(path.join(tmpdir(), "sigil-startup-"));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  for (const workers of [1, 2]) {
    it(`a port in use is one line naming the setting, with --workers ${workers}, and leaves no first admin key`, async () => {
      const taken = await occupiedPort();
      try {
        const listeners = [["SIGIL_GRPC_ADDR", "--grpc-addr"], ["SIGIL_HTTP_ADDR", "--http-addr"], ["SIGIL_METRICS_ADDR", "--metrics-addr"]] as const;
        for (const [setting, flag] of listeners) {
          const dir = dataDir();
          const database = await databaseForTest(dir);
          const others = listeners.filter(([, f]) => f !== flag).flatMap(([, f]) => [f, "127.0.0.1:0"]);
          try {
            const run = await runCli(["serve", "--workers", String(workers), flag, `127.0.0.1:${taken.port}`, ...others], {
              env: { SIGIL_DATA_DIR: dir, SIGIL_DATABASE_URL: database.url },
            });
            assertOneLine(run, `sigil: ${setting} (${flag}) 127.0.0.1:${taken.port}: address in use`);
            assert.ok(!existsSync(path.join(dir, "admin.key")), "no admin.key written");
            assert.equal(await bootstrapKeys(database.url), 0, "no bootstrap key row");
          } finally {
            await database.drop();
          }
        }
      } finally {
        taken.server.close();
      }
    });
  }

  it("a worker that cannot start exits with code 1 and tells its supervisor why", async () => {
    const taken = await occupiedPort();
    // This test process is the cluster primary, as `sigil serve --workers N` would be.
    cluster.setupPrimary({ exec: CLI_MAIN, args: ["serve", "--workers", "2", "--grpc-addr", `127.0.0.1:${taken.port}`, "--http-addr", "127.0.0.1:0"], silent: true });
    const dir = dataDir();
    const database = await databaseForTest(dir);
    try {
      const worker: Worker = cluster.fork({ SIGIL_DATA_DIR: dir, SIGIL_DATABASE_URL: database.url, SIGIL_LOG_LEVEL: "warn" });
      const messages: unknown[] = [];
      worker.on("message", (m: unknown) => messages.push(m));
      const exit = await new Promise<{ code: number | null; signal: string | null }>((resolve) => worker.once("exit", (code, signal) => resolve({ code, signal })));
      assert.deepEqual(exit, { code: 1, signal: null });
      assert.deepEqual(messages, [{ type: "sigil:start-failed", message: `SIGIL_GRPC_ADDR (--grpc-addr) 127.0.0.1:${taken.port}: address in use` }]);
    } finally {
      taken.server.close();
      await database.drop();
    }
  });

  it(
    "waits with back-off for a PostgreSQL that comes up after it, and gives up in one line on one that never does",
    { skip: testDialect() !== "postgres" && "runs in the PostgreSQL pass" },
    async () => {
      const postgres = await PostgresCluster.create();
      try {
        const database = await createTestDatabase(postgres.url());
        await postgres.stop();
        const dir = dataDir();
        const sigil = startSigilProcess(["--workers", "1"], { SIGIL_DATA_DIR: dir, SIGIL_DATABASE_URL: database.url, SIGIL_DATABASE_START_TIMEOUT: "60s" });
        try {
          await sigil.waitFor("a retry", () => (sigil.logs().some((l) => l.msg === "database not reachable yet; waiting for it") ? true : undefined));
          await new Promise((resolve) => setTimeout(resolve, 3000));
          assert.equal(sigil.child.exitCode, null, "still waiting, not crashed");
          await postgres.start();
          const [listening] = await sigil.waitForListening(1, 60_000);
          const retries = sigil.logs().filter((l) => l.msg === "database not reachable yet; waiting for it");
          assert.ok(retries.length >= 2, `retried (${retries.length})`);
          const delays = retries.map((l) => l.retryInMs as number);
          assert.ok(delays.every((d, i) => i === 0 || d >= delays[i - 1]!), `back-off grows: ${delays.join(" ")}`);
          assert.ok(
            !sigil.logs().some((l) => l.msg?.toString().includes("NOT_SERVING")),
            "waiting at start-up is not reported as an outage",
          );
          const health = (await (await fetch(`${listening!.httpUrl}/healthz`)).json()) as { status: string };
          assert.equal(health.status, "SERVING");
          assert.equal((await createSigilClient({ baseUrl: listening!.grpcUrl }).verifyKey({ credential: "sgl_x" })).valid, false);
        } finally {
          await sigil.stop();
        }

        // Never comes up: one line after the (short) start timeout, naming both settings, no URL.
        await postgres.stop();
        const started = Date.now();
        const run = await runCli(["serve", "--workers", "1", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"], {
          env: { SIGIL_DATA_DIR: dataDir(), SIGIL_DATABASE_URL: database.url, SIGIL_DATABASE_START_TIMEOUT: "2s" },
        });
        assertOneLine(run, /^sigil: SIGIL_DATABASE_URL \(--database-url\): database unreachable \(ECONNREFUSED\) after \d+ attempt\(s\) in \d+s; SIGIL_DATABASE_START_TIMEOUT \(--database-start-timeout\) sets how long start-up waits$/);
        assert.ok(Date.now() - started >= 2000, "it waited for the timeout");
        assert.ok(!run.stderr.includes(database.url) && !run.stdout.includes(database.url), "the URL is never printed");
      } finally {
        postgres.destroy();
      }
    },
  );

  it("a database that answers but refuses (no such database) fails at once, in one line", { skip: testDialect() !== "postgres" && "runs in the PostgreSQL pass" }, async () => {
    const database = await createTestDatabase();
    await database.drop();
    const started = Date.now();
    const run = await runCli(["serve", "--workers", "1", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"], {
      env: { SIGIL_DATA_DIR: dataDir(), SIGIL_DATABASE_URL: database.url },
    });
    assertOneLine(run, /^sigil: SIGIL_DATABASE_URL \(--database-url\): cannot use the database: database "sigil_test_\w+" does not exist$/);
    assert.ok(Date.now() - started < 30_000, "no waiting for a database that answered");
  });
});
