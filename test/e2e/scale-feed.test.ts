import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pino from "pino";
import { ChangeFeedFollower, type FeedUpdate } from "../../src/cache/change-feed-follower.js";
import { KeyDirectory } from "../../src/cache/key-directory.js";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { appendChange, feedHorizon, latestChangeSeq, pruneChangesBefore, readChangesAfter } from "../../src/store/change-feed-repository.js";
import type { SigilDb } from "../../src/store/database.js";
import { openDatabase } from "../../src/store/open-database.js";
import { PostgresFeedListener } from "../../src/store/postgres-feed-listener.js";
import { testDialect } from "../support/postgres.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

const silent = pino({ level: "silent" });
/** Long enough that a follower built here never polls on its own during a test. */
const NO_POLLING_MS = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe(`change feed (${testDialect()})`, () => {
  let server: TestServer;
  let admin: SigilClient;
  /** A second handle on the server's database, as another process would hold. */
  let db: SigilDb;
  before(async () => {
    server = await startTestServer();
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    db = openDatabase(server.databaseUrl).db;
  });
  after(async () => {
    await db.destroy();
    await server.close();
  });

  const issue = async () => (await admin.issueKey({ name: "feed", owner: "svc:feed", scopes: ["read"] })).key!.keyId;

  it("appends become visible in seq order, so a reader of `seq > last` skips none, even when they commit out of order", async () => {
    const before = await latestChangeSeq(db);
    const seen: number[] = [];
    let last = before;
    let writing = true;
    const reader = (async () => {
      while (writing) {
        for (const c of await readChangesAfter(db, last, 1000)) {
          seen.push(c.seq);
          last = c.seq;
        }
        await sleep(1);
      }
    })();
    // Each transaction appends, then holds its transaction open for a random while before
    // committing: without serialized appends a later seq would often commit first.
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        db.transaction().execute(async (tx) => {
          await appendChange(tx, { key_id: `order-${i}`, action: "issue", reason: null, actor_key_id: null, time: Date.now() });
          await sleep(Math.random() * 15);
        }),
      ),
    );
    writing = false;
    await reader;
    for (const c of await readChangesAfter(db, last, 1000)) seen.push(c.seq);
    const all = (await readChangesAfter(db, before, 1000)).map((c) => c.seq);
    assert.equal(all.length, 30);
    assert.deepEqual(seen, all, "the incremental reader saw every append, in order");
  });

  it("a follower that fell behind the retention drops its whole cache instead of missing a revocation", async () => {
    const directory = new KeyDirectory({ db, dialect: testDialect() }, { capacity: 100 });
    const follower = new ChangeFeedFollower(db, directory, { intervalMs: NO_POLLING_MS, log: silent });
    const updates: FeedUpdate[] = [];
    follower.onChanges((u) => updates.push(u));
    await follower.start();
    try {
      const keyId = await issue();
      assert.equal((await directory.get(keyId))?.revokeTime, null, "cached while active");
      await admin.revokeKey({ keyId, reason: "while the follower was away" });

      // Retention passes before the follower polls: the revocation's feed row is pruned unseen.
      assert.ok((await pruneChangesBefore(db, Date.now() + 1, 10_000)) > 0);
      assert.ok((await feedHorizon(db)) > follower.lastSeq);
      assert.equal((await directory.get(keyId))?.revokeTime, null, "still the stale cached record");

      await follower.poll();
      assert.deepEqual(updates.map((u) => u.reset), [true]);
      assert.equal(directory.cachedCount, 0);
      assert.notEqual((await directory.get(keyId))?.revokeTime, null, "re-read from the store: revoked");
      assert.ok(follower.lastSeq >= (await feedHorizon(db)));
    } finally {
      await follower.stop();
    }
  });

  it("a follower that keeps up invalidates only the changed keys and tells its subscribers", async () => {
    const directory = new KeyDirectory({ db, dialect: testDialect() }, { capacity: 100 });
    const follower = new ChangeFeedFollower(db, directory, { intervalMs: NO_POLLING_MS, log: silent });
    const updates: FeedUpdate[] = [];
    const unsubscribe = follower.onChanges((u) => updates.push(u));
    await follower.start();
    try {
      const [kept, revoked] = [await issue(), await issue()];
      await follower.poll();
      await directory.get(kept);
      await directory.get(revoked);
      await admin.revokeKey({ keyId: revoked, reason: "feed test" });
      await follower.poll();

      const last = updates[updates.length - 1]!;
      assert.equal(last.reset, false);
      assert.deepEqual(last.changes.map((c) => [c.key_id, c.action]), [[revoked, "revoke"]]);
      assert.equal(last.lastSeq, follower.lastSeq);
      assert.equal(directory.cachedCount, 1, "only the revoked key was dropped");
      assert.notEqual((await directory.get(revoked))?.revokeTime, null);

      unsubscribe();
      const count = updates.length;
      await admin.revokeKey({ keyId: kept, reason: "feed test" });
      await follower.poll();
      assert.equal(updates.length, count, "no calls after unsubscribing");
    } finally {
      await follower.stop();
    }
  });

  it("the server prunes rows older than SIGIL_FEED_RETENTION by itself", async () => {
    const short = await startTestServer({ SIGIL_FEED_RETENTION: "1s" });
    const shortDb = openDatabase(short.databaseUrl).db;
    try {
      const client = createSigilClient({ baseUrl: short.grpcUrl, adminKey: short.adminKey });
      await client.issueKey({ name: "old", owner: "svc:feed", scopes: [] });
      assert.ok((await readChangesAfter(shortDb, 0, 100)).length > 0);
      short.advance(5000);
      // The pruner runs every second at this retention.
      await until("the pruner to empty the feed", async () => (await readChangesAfter(shortDb, 0, 100)).length === 0, 5000);
      assert.ok((await feedHorizon(shortDb)) > 0);
      // Still serving, and new changes append after the horizon.
      await client.issueKey({ name: "new", owner: "svc:feed", scopes: [] });
      const fresh = await readChangesAfter(shortDb, 0, 100);
      assert.equal(fresh.length, 1);
      assert.ok(fresh[0]!.seq > (await feedHorizon(shortDb)));
    } finally {
      await shortDb.destroy();
      await short.close();
    }
  });

  it("on PostgreSQL, LISTEN/NOTIFY wakes a follower long before its next poll", { skip: testDialect() !== "postgres" && "PostgreSQL only" }, async () => {
    const directory = new KeyDirectory({ db, dialect: testDialect() }, { capacity: 100 });
    const follower = new ChangeFeedFollower(db, directory, {
      intervalMs: NO_POLLING_MS,
      log: silent,
      wakeSource: new PostgresFeedListener(server.databaseUrl, silent),
    });
    const updates: FeedUpdate[] = [];
    follower.onChanges((u) => updates.push(u));
    await follower.start();
    try {
      // The listener connects in the background; it wakes the follower once when it is ready.
      await sleep(500);
      const keyId = await issue();
      await until("the notification", () => updates.some((u) => u.changes.some((c) => c.key_id === keyId)), 5000);
    } finally {
      await follower.stop();
    }
  });
});
