import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { databaseForTest, testDialect, type TestDatabase } from "../support/postgres.js";
import { startSigilProcess, type SigilProcess } from "../support/sigil-process.js";

/** Calls in flight at once during a burst. */
const CONCURRENCY = 8;

/** Keeps CONCURRENCY IssueKey calls in flight until `stop()`; records the secret of every call answered OK. */
function issueBurst(clients: () => SigilClient) {
  const acknowledged: string[] = [];
  const failures: Code[] = [];
  let stopped = false;
  const loops = Array.from({ length: CONCURRENCY }, async (_, loop) => {
    for (let i = 0; !stopped; i++) {
      try {
        const r = await clients().issueKey({ name: `burst ${loop}.${i}`, owner: "svc:crash", scopes: ["read"] });
        acknowledged.push(r.secret);
      } catch (err) {
        failures.push(ConnectError.from(err).code);
        // Do not spin while nothing answers.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  });
  return {
    acknowledged,
    failures,
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

async function until(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function assertAllVerify(client: SigilClient, secrets: readonly string[]): Promise<void> {
  for (const secret of secrets) {
    const r = await client.verifyKey({ credential: secret });
    assert.equal(VerifyReason[r.reason], "VALID", "an acknowledged key must verify");
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe(`processes killed with SIGKILL lose no acknowledged write (${testDialect()})`, () => {
  let dataDir: string;
  let database: TestDatabase;
  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "sigil-crash-"));
    database = await databaseForTest(dataDir);
  });
  after(async () => {
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const serve = (workers: number): SigilProcess =>
    startSigilProcess(["--workers", String(workers), "--data-dir", dataDir], { SIGIL_DATABASE_URL: database.url });

  it("SIGKILL during a burst of IssueKey: every key whose IssueKey returned OK verifies after restart", async () => {
    const first = serve(1);
    let acknowledged: readonly string[];
    try {
      const [listening] = await first.waitForListening(1);
      const adminKey = readFileSync(path.join(dataDir, "admin.key"), "utf8").trim();
      const admin = createSigilClient({ baseUrl: listening!.grpcUrl, adminKey });
      const burst = issueBurst(() => admin);
      await until("100 acknowledged keys", () => burst.acknowledged.length >= 100);
      first.child.kill("SIGKILL");
      const exit = await first.exited;
      await burst.stop();
      assert.equal(exit.signal, "SIGKILL");
      acknowledged = burst.acknowledged;
    } finally {
      await first.stop("SIGKILL");
    }

    const second = serve(1);
    try {
      const [again] = await second.waitForListening(1);
      await assertAllVerify(createSigilClient({ baseUrl: again!.grpcUrl }), acknowledged);
    } finally {
      assert.equal((await second.stop("SIGTERM")).code, 0);
    }
  });

  it("a worker killed with SIGKILL is replaced while the other serves; SIGTERM then drains every worker", async () => {
    const server = startSigilProcess(["--workers", "2", "--data-dir", dataDir], { SIGIL_DATABASE_URL: database.url });
    try {
      const started = await server.waitForListening(2);
      const adminKey = readFileSync(path.join(dataDir, "admin.key"), "utf8").trim();
      // Four connections, used in turn: the supervisor spreads them over both workers.
      const grpcUrl = started[0]!.grpcUrl;
      const pool = Array.from({ length: 4 }, () => createSigilClient({ baseUrl: grpcUrl, adminKey }));
      let turn = 0;
      const burst = issueBurst(() => pool[turn++ % pool.length]!);
      await until("50 acknowledged keys", () => burst.acknowledged.length >= 50);

      const victim = started[0]!.pid;
      process.kill(victim, "SIGKILL");
      const countAtKill = burst.acknowledged.length;
      const replaced = await server.waitFor("a replacement worker", () => {
        const pids = new Set(server.listening().map((l) => l.pid));
        return pids.size >= 3 ? [...pids] : undefined;
      });
      await until("50 more acknowledged keys", () => burst.acknowledged.length >= countAtKill + 50);
      await burst.stop();
      assert.ok(!isAlive(victim));
      assert.ok(server.logs().some((l) => l.msg === "worker exited; starting a new one" && l.workerPid === victim && l.signal === "SIGKILL"));
      // Only the calls cut off with the worker failed, each at most once per loop or so (the next call
      // reconnects to a live worker). connect-node reports a connection cut mid-call as CANCELED,
      // ABORTED (ECONNRESET) or UNAVAILABLE, all retryable; no server answered with an error.
      const cutOff = new Set([Code.Canceled, Code.Aborted, Code.Unavailable]);
      for (const code of burst.failures) assert.ok(cutOff.has(code), `unexpected ${Code[code]}`);
      assert.ok(burst.failures.length <= 2 * CONCURRENCY, `${burst.failures.length} failed calls`);

      await assertAllVerify(createSigilClient({ baseUrl: grpcUrl }), burst.acknowledged);

      const workers = replaced.filter((pid) => pid !== victim);
      const exit = await server.stop("SIGTERM");
      assert.deepEqual(exit, { code: 0, signal: null });
      for (const pid of workers) assert.ok(!isAlive(pid), `worker ${pid} outlived its supervisor`);
      const stoppedPids = new Set(server.logs().filter((l) => l.msg === "sigil stopped").map((l) => l.pid));
      assert.deepEqual([...stoppedPids].sort(), [...workers].sort(), "every live worker stopped gracefully");
    } finally {
      await server.stop("SIGKILL");
    }
  });
});
