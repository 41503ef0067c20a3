import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { databaseForTest, testDialect } from "../support/postgres.js";
import { startSigilProcess } from "../support/sigil-process.js";
import { startTestServer } from "../support/test-server.js";
import { recentRange, totals, UsageTally, verifyMix, verifyUntilRevoked, waitForSeries, type VerifiedKey } from "../support/usage-tally.js";
import { clientOnWorker } from "../support/worker-client.js";

/**
 * Issue #11 item 3: the usage series is exact across processes. Two processes verify the same key
 * with a mix of outcomes (valid, INSUFFICIENT_SCOPE, NOT_FOUND with a wrong secret, REVOKED after a
 * revocation, and MALFORMED or unknown credentials, which count under no key); each adds its own
 * counts, so GetKeyUsage reports exactly what the callers saw.
 */

const N = 30;

async function issueKey(admin: SigilClient): Promise<VerifiedKey> {
  const issued = await admin.issueKey({ name: "counted", owner: "svc:usage", scopes: ["read"] });
  return { secret: issued.secret, keyId: issued.key!.keyId };
}

/** Both callers' mixes at once, a revocation, then both until their process answers REVOKED. */
async function verifyOnBoth(admin: SigilClient, callers: readonly SigilClient[], key: VerifiedKey, tally: UsageTally): Promise<void> {
  await Promise.all(callers.map((c) => verifyMix(c, key, N, tally)));
  await admin.revokeKey({ keyId: key.keyId, reason: "usage test" });
  await Promise.all(callers.map((c) => verifyUntilRevoked(c, key, tally)));
}

describe(`usage analytics across processes (${testDialect()})`, () => {
  it("two instances on one database: nothing is written per call, a graceful stop flushes, the counts add up", async () => {
    // The timer never fires in this test: only the shutdown flush writes.
    const quiet = { SIGIL_LAST_USE_FLUSH_INTERVAL: "10m" };
    const owner = await startTestServer(quiet);
    const a = await startTestServer(quiet, { join: owner });
    const b = await startTestServer(quiet, { join: owner });
    let closed = false;
    try {
      const admin = createSigilClient({ baseUrl: owner.grpcUrl, adminKey: owner.adminKey });
      const key = await issueKey(admin);
      const tally = new UsageTally();
      await verifyOnBoth(admin, [createSigilClient({ baseUrl: a.grpcUrl }), createSigilClient({ baseUrl: b.grpcUrl })], key, tally);
      const expected = tally.of(key.keyId);
      assert.equal(expected.VALID! >= 2 * (N + 1), true, `both processes answered VALID (${JSON.stringify(expected)})`);
      assert.equal(expected.INSUFFICIENT_SCOPE, 2 * (N / 2 + 1));
      assert.equal(expected.NOT_FOUND, 6);
      assert.equal(expected.REVOKED! >= 6, true);
      assert.deepEqual(tally.unattributed, { MALFORMED: 6, NOT_FOUND: 2 });

      const range = recentRange(owner.now());
      assert.deepEqual(totals(await admin.getKeyUsage({ keyId: key.keyId, ...range })), {}, "nothing written before a flush");
      await Promise.all([a.close(), b.close()]);
      closed = true;
      assert.deepEqual(totals(await admin.getKeyUsage({ keyId: key.keyId, ...range })), expected);
      assert.deepEqual(totals(await admin.getKeyUsage({ unattributed: true, ...range })), tally.unattributed);
    } finally {
      if (!closed) await Promise.all([a.close(), b.close()]);
      await owner.close();
    }
  });

  it(`serve --workers 2 on ${testDialect()}: both workers' counts, flushed on the interval, add up exactly`, async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "sigil-usage-workers-"));
    const database = await databaseForTest(dataDir);
    const server = startSigilProcess(["--workers", "2", "--data-dir", dataDir], {
      SIGIL_DATABASE_URL: database.url,
      SIGIL_LOG_LEVEL: "info",
      SIGIL_LAST_USE_FLUSH_INTERVAL: "200ms",
    });
    try {
      const workers = await server.waitForListening(2);
      const pids = [...new Set(workers.map((w) => w.pid))];
      const url = workers[0]!.grpcUrl;
      const adminKey = readFileSync(path.join(dataDir, "admin.key"), "utf8").trim();
      const admin = createSigilClient({ baseUrl: url, adminKey });
      // One caller per worker: each connection the supervisor hands to one of them.
      const callers = [await clientOnWorker(server, url, pids[0]!, adminKey), await clientOnWorker(server, url, pids[1]!, adminKey)];
      const key = await issueKey(admin);
      const tally = new UsageTally();
      await verifyOnBoth(admin, callers, key, tally);
      const expected = tally.of(key.keyId);
      assert.equal(expected.INSUFFICIENT_SCOPE, 2 * (N / 2 + 1));
      await waitForSeries(admin, { keyId: key.keyId }, expected, Date.now);
      await waitForSeries(admin, { unattributed: true }, tally.unattributed, Date.now);
      // Several flush intervals later, still exactly that: nothing is added twice.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.deepEqual(totals(await admin.getKeyUsage({ keyId: key.keyId, ...recentRange(Date.now()) })), expected);
    } finally {
      const exit = await server.stop("SIGTERM");
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
      assert.equal(exit.code, 0);
    }
  });
});
