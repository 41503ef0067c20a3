import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { createSigilClient } from "../../clients/typescript/src/index.js";
import { openDatabase } from "../../src/store/open-database.js";
import { databaseForTest, type TestDatabase } from "../support/postgres.js";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";

const DAY_MS = 86_400_000;
const REMINDER = "the bootstrap admin key is still the only admin key";

/** The reminder lines of a server's log. */
function reminders(stdout: string): Array<{ keyId: string; file: string; ageDays: number; level: number }> {
  return stdout
    .split("\n")
    .filter((l) => l.includes(REMINDER))
    .map((l) => JSON.parse(l) as { keyId: string; file: string; ageDays: number; level: number });
}

describe("the bootstrap admin key reminder (a real sigil serve)", () => {
  let dataDir: string;
  let database: TestDatabase;
  let env: Record<string, string>;
  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "sigil-bootstrap-"));
    database = await databaseForTest(dataDir);
    env = { SIGIL_DATA_DIR: dataDir, SIGIL_DATABASE_URL: database.url };
  });
  after(async () => {
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /**
   * Stops a server once it answers calls: a SIGTERM right after its "listening" line can land before
   * `sigil serve` has installed its signal handlers (the default action then kills it).
   */
  async function stop(server: ServerProcess): Promise<void> {
    await createSigilClient({ baseUrl: server.grpcUrl }).verifyKey({ credential: "sgl_x" });
    assert.equal(await server.stop(), 0, server.stdout() + server.stderr());
  }

  /** Makes the installation look `days` old: the bootstrap key was created that long ago. */
  async function age(days: number): Promise<void> {
    const { db } = openDatabase(database.url);
    try {
      await db.updateTable("keys").set({ create_time: Date.now() - days * DAY_MS }).where("owner", "=", "sigil:bootstrap").execute();
    } finally {
      await db.destroy();
    }
  }

  it("warns at start-up while the bootstrap key is older than a day and the only admin key, and stops once it is replaced", async () => {
    const fresh = await startServerProcess(env);
    const adminKey = readFileSync(path.join(dataDir, "admin.key"), "utf8").trim();
    const bootstrapKeyId = adminKey.split("_")[1]!;
    await stop(fresh);
    assert.deepEqual(reminders(fresh.stdout()), [], "no warning for a key created today");

    await age(3);
    const old = await startServerProcess(env);
    const [warning] = reminders(old.stdout());
    assert.ok(warning, `a warning at start-up: ${old.stdout()}`);
    assert.equal(warning.level, 40, "level warn");
    assert.equal(warning.keyId, bootstrapKeyId);
    assert.equal(warning.file, path.join(dataDir, "admin.key"));
    assert.equal(warning.ageDays, 3);
    assert.ok(!old.stdout().includes(adminKey.slice(21)), "the log never holds the key");

    // The documented replacement: a new admin key, then revoke the bootstrap one.
    const admin = createSigilClient({ baseUrl: old.grpcUrl, adminKey });
    const replacement = await admin.issueKey({ name: "ops admin", owner: "team:ops", scopes: ["sigil:admin"] });
    await stop(old);

    const replaced = await startServerProcess(env);
    assert.deepEqual(reminders(replaced.stdout()), [], "another admin key exists");
    await createSigilClient({ baseUrl: replaced.grpcUrl, adminKey: replacement.secret }).revokeKey({ keyId: bootstrapKeyId, reason: "replaced by team:ops" });
    await stop(replaced);
    const revoked = await startServerProcess(env);
    assert.deepEqual(reminders(revoked.stdout()), [], "the bootstrap key is revoked");
    await stop(revoked);
  });
});
