// The bench's SQLite bulk seeder (bench/sqlite-bulk-seed.ts behind dist/bench/seed.js): the keys it
// writes verify through the real server exactly like issued keys, ListKeys pages through them, and
// the database it leaves has the schema of a freshly migrated one, in WAL mode.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import BetterSqlite3 from "better-sqlite3";
import { ListKeysRequestSchema, ListKeysResponseSchema, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { SEED_SCRIPT } from "../../bench/datasets.js";
import { startSigil, stopSigil, type SigilInstance } from "../../bench/servers/sigil-server.js";
import { bearer } from "../../bench/sigil-rpc.js";
import { migrateToLatest } from "../../src/store/migrations.js";
import { openDatabase } from "../../src/store/open-database.js";

const COUNT = 5_000;

function runSeed(dataDir: string, count: number, out: string) {
  return spawnSync(process.execPath, [SEED_SCRIPT, "--data-dir", dataDir, "--count", String(count), "--out", out], { encoding: "utf8" });
}

function seed(dataDir: string, count: number, out: string): string {
  const run = runSeed(dataDir, count, out);
  assert.equal(run.status, 0, run.stderr);
  return run.stderr;
}

/** Everything of the schema a server relies on, by name. */
function schemaOf(file: string): Array<{ type: string; name: string; tbl_name: string; sql: string | null }> {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    return db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").all() as never;
  } finally {
    db.close();
  }
}

describe("bench SQLite bulk seeder", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "sigil-bench-seed-"));
  const dataDir = path.join(dir, "data");
  const keysFile = path.join(dir, "keys.txt");
  let sigil: SigilInstance;
  let keys: string[];

  before(async () => {
    const log = seed(dataDir, COUNT, keysFile);
    assert.match(log, new RegExp(`seeded ${COUNT} keys`));
    keys = readFileSync(keysFile, "utf8").trim().split("\n");
    sigil = await startSigil({ dataDir, cpus: undefined, logFile: path.join(dir, "sigil.log") });
  });
  after(async () => {
    if (sigil) await stopSigil(sigil);
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes every key string once, to a private file", () => {
    assert.equal(keys.length, COUNT);
    assert.equal(new Set(keys).size, COUNT);
    assert.equal(statSync(keysFile).mode & 0o777, 0o600);
  });

  it("stores keys that verify VALID through the server with their owner and scopes", async () => {
    const sample = [0, 1, 2, COUNT >> 1, COUNT - 2, COUNT - 1, ...Array.from({ length: 30 }, (_, i) => (i * 7919) % COUNT)];
    for (const i of sample) {
      const answer = await sigil.rpc.verifyKey({ credential: keys[i]! });
      assert.equal(answer.valid, true, `key on line ${i} did not verify: ${VerifyReason[answer.reason]}`);
      assert.match(answer.owner, /^svc:seed-\d{1,2}$/);
      assert.deepEqual(answer.scopes, ["read", "write"]);
      assert.equal(keys[i]!.split("_")[1], answer.keyId);
    }
  });

  it("rejects a seeded key with one secret character changed", async () => {
    const key = keys[7]!;
    const at = key.length - 10;
    const tampered = key.slice(0, at) + (key[at] === "a" ? "b" : "a") + key.slice(at + 1);
    const answer = await sigil.rpc.verifyKey({ credential: tampered });
    assert.equal(answer.valid, false);
  });

  it("lists the seeded keys page by page, each owner holding its share", async () => {
    let pageToken = "";
    let listed = 0;
    do {
      const page = await sigil.rpc.call("/sigil.v1.KeyService/ListKeys", ListKeysRequestSchema, ListKeysResponseSchema, { pageSize: 1000, pageToken }, bearer(sigil.adminKey));
      listed += page.keys.filter((k) => k.owner.startsWith("svc:seed-")).length;
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    assert.equal(listed, COUNT);
    const owned = await sigil.rpc.call("/sigil.v1.KeyService/ListKeys", ListKeysRequestSchema, ListKeysResponseSchema, { pageSize: 1000, owner: "svc:seed-7" }, bearer(sigil.adminKey));
    assert.equal(owned.keys.length, COUNT / 100);
    assert.ok(owned.keys.every((k) => k.name.startsWith("seed ") && Number(k.name.slice(5)) % 100 === 7));
  });

  it("refuses to load into a database a running server has open", async () => {
    const run = runSeed(dataDir, 100, path.join(dir, "more-keys.txt"));
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /is a server running on this database/);
    const answer = await sigil.rpc.verifyKey({ credential: keys[3]! });
    assert.equal(answer.valid, true);
  });

  it("leaves the schema of a freshly migrated database, in WAL mode", async () => {
    const fresh = path.join(dir, "fresh.db");
    const { db: migrated, dialect } = openDatabase(`sqlite:${fresh}`);
    await migrateToLatest(migrated, dialect);
    await migrated.destroy();
    const seeded = schemaOf(path.join(dataDir, "sigil.db"));
    assert.ok(seeded.some((e) => e.type === "index" && e.name === "keys_by_owner"), "the keys table's indexes are back");
    assert.deepEqual(seeded, schemaOf(fresh));
    const db = new BetterSqlite3(path.join(dataDir, "sigil.db"), { readonly: true });
    try {
      assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
      assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
    } finally {
      db.close();
    }
  });
});
