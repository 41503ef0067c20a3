import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { newKeyId } from "../../src/keys/api-key-format.js";
import { openDatabase } from "../../src/store/open-database.js";
import { AuditAction } from "../../clients/typescript/src/gen/sigil/v1/audit_pb.js";
import { KeyStatus } from "../../clients/typescript/src/gen/sigil/v1/key_pb.js";
import { codeOf } from "../support/call-outcome.js";
import { createTestDatabase, testDialect, type TestDatabase } from "../support/postgres.js";
import { startSigilProcess } from "../support/sigil-process.js";
import { startTestServer } from "../support/test-server.js";
import { clientOnWorker } from "../support/worker-client.js";

/**
 * Issue #9 item 1: a mutation authorizes its write inside its own transaction, so once RevokeKey
 * (or UpdateKey disabling the key) has returned on one process, no process accepts a mutation by
 * that admin key, even one whose key cache still holds it as valid (the change-feed window).
 */

const ROUNDS = 5;

/** A way to get an admin client connected to one particular process. */
interface Deployment {
  /** A client of the process named `side`, authenticating with `adminKey`. */
  clientOn(side: "revoker" | "actor", adminKey: string): Promise<SigilClient>;
}

const DISABLE = { paths: ["enabled"] };

/** Makes `client`'s process cache `adminKey` as a valid admin: an admin read passes its pre-check. */
async function useAdminKey(client: SigilClient): Promise<void> {
  assert.equal(await codeOf(client.getKey({ keyId: newKeyId() })), Code.NotFound, "the admin key works on the other process before the change");
}

/** Tries every kind of mutation with a just-revoked or just-disabled admin key, all at once. */
async function attemptsBy(actor: SigilClient, victimKeyId: string, otherKeyId: string): Promise<Array<Code | "ok">> {
  return Promise.all([
    codeOf(actor.issueKey({ name: "minted by a dead admin", owner: "attacker", scopes: ["sigil:admin"] })),
    codeOf(actor.issueKey({ name: "minted by a dead admin", owner: "attacker", scopes: ["sigil:admin"], requestId: `r-${newKeyId()}` })),
    // Self re-enable, and a change to another key.
    codeOf(actor.updateKey({ key: { keyId: victimKeyId, enabled: true }, updateMask: DISABLE })),
    codeOf(actor.updateKey({ key: { keyId: otherKeyId, name: "renamed by a dead admin" }, updateMask: { paths: ["name"] } })),
    codeOf(actor.rotateKey({ keyId: otherKeyId })),
    codeOf(actor.revokeKey({ keyId: otherKeyId, reason: "revoked by a dead admin" })),
    codeOf(actor.importKey({ keyMaterial: { case: "rawKey", value: `legacy-${newKeyId()}` }, name: "imported by a dead admin", owner: "attacker" })),
    codeOf(actor.rotateSigningKey({ retireNow: true })),
  ]);
}

async function revokedAndDisabledAdminsCannotAct(deployment: Deployment, rootKey: string): Promise<void> {
  const root = await deployment.clientOn("revoker", rootKey);
  const other = await root.issueKey({ name: "bystander", owner: "svc:bystander", scopes: ["read"] });
  const otherKeyId = other.key!.keyId;
  const failures: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const change of ["revoke", "disable"] as const) {
      const victim = await root.issueKey({ name: `admin ${round} ${change}`, owner: "ops", scopes: ["sigil:admin"] });
      const victimKeyId = victim.key!.keyId;
      const actor = await deployment.clientOn("actor", victim.secret);
      await useAdminKey(actor);
      if (change === "revoke") await root.revokeKey({ keyId: victimKeyId, reason: "compromised" });
      else await root.updateKey({ key: { keyId: victimKeyId, enabled: false }, updateMask: DISABLE });
      // At once, on the process that still has the key cached as valid.
      const outcomes = await attemptsBy(actor, victimKeyId, otherKeyId);
      const accepted = outcomes.filter((c) => c !== Code.Unauthenticated);
      if (accepted.length > 0) failures.push(`round ${round} (${change}): ${outcomes.map((c) => (c === "ok" ? "OK" : Code[c])).join(", ")}`);

      // Nothing was written in its name, and the key stayed as the root admin left it.
      const events = await root.listAuditEvents({ actorKeyId: victimKeyId });
      assert.deepEqual(events.events.map((e) => AuditAction[e.action]), [], `round ${round} (${change}): mutations recorded for the dead admin`);
      const state = (await root.getKey({ keyId: victimKeyId })).key!.status;
      assert.equal(KeyStatus[state], change === "revoke" ? "REVOKED" : "DISABLED");
    }
  }
  assert.deepEqual(failures, [], "every mutation by a revoked or disabled admin key is refused (UNAUTHENTICATED)");
  // The bystander was not touched.
  const bystander = (await root.getKey({ keyId: otherKeyId })).key!;
  assert.equal(bystander.name, "bystander");
  assert.equal(KeyStatus[bystander.status], "ACTIVE");
}

/** `sigil serve --workers 2`; clients are pinned to a worker by the pid in their calls' log lines. */
async function withWorkers(databaseUrl: (dataDir: string) => Promise<TestDatabase>, body: (d: Deployment, rootKey: string) => Promise<void>): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "sigil-recheck-"));
  const database = await databaseUrl(dataDir);
  const server = startSigilProcess(["--workers", "2", "--data-dir", dataDir], { SIGIL_DATABASE_URL: database.url, SIGIL_LOG_LEVEL: "info" });
  try {
    const workers = await server.waitForListening(2);
    const pids = [...new Set(workers.map((w) => w.pid))];
    const url = workers[0]!.grpcUrl;
    const rootKey = readFileSync(path.join(dataDir, "admin.key"), "utf8").trim();
    await body({ clientOn: (side, adminKey) => clientOnWorker(server, url, side === "revoker" ? pids[0]! : pids[1]!, adminKey) }, rootKey);
  } finally {
    const exit = await server.stop("SIGTERM");
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
    assert.equal(exit.code, 0);
  }
}

function sqliteIn(dataDir: string): Promise<TestDatabase> {
  return Promise.resolve({ url: `sqlite:${path.join(dataDir, "sigil.db")}`, drop: async () => {} });
}

describe(`a revoked or disabled admin key acts on no process (${testDialect()})`, () => {
  it("two instances on one database: the other instance refuses its mutations at once", async () => {
    const a = await startTestServer();
    const b = await startTestServer({}, { join: a });
    try {
      const deployment: Deployment = {
        clientOn: async (side, adminKey) => createSigilClient({ baseUrl: (side === "revoker" ? a : b).grpcUrl, adminKey }),
      };
      await revokedAndDisabledAdminsCannotAct(deployment, a.adminKey);
    } finally {
      await b.close();
      await a.close();
    }
  });

  it(`serve --workers 2 on ${testDialect()}: the other worker refuses its mutations at once`, async () => {
    await withWorkers((dir) => (testDialect() === "postgres" ? createTestDatabase() : sqliteIn(dir)), revokedAndDisabledAdminsCannotAct);
  });

  // The SQLite pass runs the case above on one SQLite file; the PostgreSQL pass adds it here, so
  // each pass covers two processes on SQLite (BEGIN IMMEDIATE) as well as its own dialect.
  it("serve --workers 2 on one SQLite file", { skip: testDialect() === "sqlite" && "covered by the case above in this pass" }, async () => {
    await withWorkers(sqliteIn, revokedAndDisabledAdminsCannotAct);
  });

  it("one process: no mutation by an admin key commits after its revocation did, however the calls race", async () => {
    const server = await startTestServer();
    try {
      const root = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
      const target = (await root.issueKey({ name: "target", owner: "svc:t", scopes: ["read"] })).key!.keyId;
      // One connection for every call, so the server reads the burst below together: the victim's
      // calls before and after the revocation pass their (cached) pre-check while it commits.
      const shared = createSigilClient({ baseUrl: server.grpcUrl });
      const as = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });
      const { db } = openDatabase(server.databaseUrl);
      try {
        for (let round = 0; round < ROUNDS; round++) {
          const victim = await root.issueKey({ name: `racing admin ${round}`, owner: "ops", scopes: ["sigil:admin"] });
          const victimKeyId = victim.key!.keyId;
          await useAdminKey(createSigilClient({ baseUrl: server.grpcUrl, adminKey: victim.secret }));
          const mutations = (tag: string) =>
            Array.from({ length: 6 }, (_, n) =>
              codeOf(
                n % 3 === 0
                  ? shared.updateKey({ key: { keyId: target, name: `race ${round} ${tag} ${n}` }, updateMask: { paths: ["name"] } }, as(victim.secret))
                  : shared.issueKey({ name: `race ${round} ${tag} ${n}`, owner: "race" }, as(victim.secret)),
              ),
            );
          const before = mutations("before");
          const revoked = shared.revokeKey({ keyId: victimKeyId, reason: "race" }, as(server.adminKey));
          const after = mutations("after");
          await revoked;
          for (const code of await Promise.all([...before, ...after])) {
            assert.ok(code === "ok" || code === Code.Unauthenticated, `a refused mutation is UNAUTHENTICATED, got ${Code[code as Code]}`);
          }
          // Commit order is change-feed order: every change made with the victim key precedes its
          // revocation (calls that lost the race were refused and wrote nothing).
          const feed = await db.selectFrom("change_feed").select(["seq", "key_id", "action", "actor_key_id"]).orderBy("seq").execute();
          const revokedAt = feed.find((c) => c.key_id === victimKeyId && c.action === "revoke")!.seq;
          const late = feed.filter((c) => c.actor_key_id === victimKeyId && c.seq > revokedAt);
          assert.deepEqual(late, [], `round ${round}: changes by the revoked admin committed after its revocation`);
        }
      } finally {
        await db.destroy();
      }
    } finally {
      await server.close();
    }
  });
});
