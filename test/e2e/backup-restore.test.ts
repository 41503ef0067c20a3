import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { TokenFormat, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { runCli } from "../support/cli-process.js";
import { createTestDatabase, postgresBinDir, testDialect } from "../support/postgres.js";
import { startSigilProcess, type SigilProcess } from "../support/sigil-process.js";

const run = promisify(execFile);

/** Credentials of every kind, and one revoked key, to check after the restore. */
interface Credentials {
  readonly apiKeys: string[];
  readonly jwt: string;
  readonly macaroon: string;
  readonly revoked: string;
}

async function start(env: Record<string, string>): Promise<{ sigil: SigilProcess; grpcUrl: string }> {
  const sigil = startSigilProcess(["--workers", "1"], env);
  try {
    const [listening] = await sigil.waitForListening(1);
    return { sigil, grpcUrl: listening!.grpcUrl };
  } catch (err) {
    await sigil.stop();
    throw err;
  }
}

async function makeCredentials(admin: SigilClient, anon: SigilClient): Promise<Credentials> {
  const apiKeys: string[] = [];
  for (let i = 0; i < 5; i++) apiKeys.push((await admin.issueKey({ name: `k${i}`, owner: "svc:backup", scopes: ["read", "write"] })).secret);
  const jwt = (await anon.deriveToken({ credential: apiKeys[0]!, scopes: ["read"], format: TokenFormat.JWT })).token;
  const macaroon = (await anon.deriveToken({ credential: apiKeys[0]!, scopes: ["read"], format: TokenFormat.MACAROON })).token;
  const doomed = await admin.issueKey({ name: "doomed", owner: "svc:backup" });
  await admin.revokeKey({ keyId: doomed.key!.keyId, reason: "before the backup" });
  return { apiKeys, jwt, macaroon, revoked: doomed.secret };
}

async function assertAllVerify(grpcUrl: string, c: Credentials): Promise<void> {
  const anon = createSigilClient({ baseUrl: grpcUrl });
  for (const key of c.apiKeys) assert.equal((await anon.verifyKey({ credential: key, requiredScopes: ["read"] })).valid, true, "API key");
  const jwt = await anon.verifyKey({ credential: c.jwt, requiredScopes: ["read"] });
  assert.equal(jwt.valid, true, `derived JWT: ${VerifyReason[jwt.reason]}`);
  const macaroon = await anon.verifyKey({ credential: c.macaroon, requiredScopes: ["read"] });
  assert.equal(macaroon.valid, true, `macaroon: ${VerifyReason[macaroon.reason]}`);
  assert.equal((await anon.verifyKey({ credential: c.revoked })).reason, VerifyReason.REVOKED, "a revocation survives too");
  // The JWKS serves the restored signing key, so offline verifiers keep working.
  const jwks = await anon.getJwks({});
  const kid = JSON.parse(Buffer.from(c.jwt.split(".")[0]!, "base64url").toString()).kid as string;
  assert.ok(jwks.keys.some((k) => k.kid === kid), "the JWT's signing key is published");
}

describe("backup and restore", () => {
  let root: string;
  before(() => {
    root = mkdtempSync(path.join(tmpdir(), "sigil-backup-"));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it(
    "SQLite: sigil backup while the server writes → wipe → restore the copy and the server secret → every key, JWT and macaroon verifies",
    { skip: testDialect() !== "sqlite" && "runs in the SQLite pass" },
    async () => {
      const dataDir = path.join(root, "data");
      const { sigil, grpcUrl } = await start({ SIGIL_DATA_DIR: dataDir });
      const adminKey = readFileSync(path.join(dataDir, "admin.key"), "utf8").trim();
      const admin = createSigilClient({ baseUrl: grpcUrl, adminKey });
      const credentials = await makeCredentials(admin, createSigilClient({ baseUrl: grpcUrl }));
      const backup = path.join(root, "sigil-backup.db");
      try {
        // The server keeps writing during the copy: the backup is one consistent snapshot anyway.
        let writing = true;
        const writer = (async () => {
          let n = 0;
          while (writing) {
            await admin.issueKey({ name: `during ${n++}`, owner: "svc:busy" });
          }
          return n;
        })();
        const result = await runCli(["backup", backup, "--json"], { env: { SIGIL_DATA_DIR: dataDir } });
        writing = false;
        const issuedDuring = await writer;
        assert.equal(result.code, 0, result.stderr);
        const summary = JSON.parse(result.stdout) as { source: string; file: string; pages: number; bytes: number };
        assert.equal(summary.file, backup);
        assert.ok(summary.pages > 0 && summary.bytes === statSync(backup).size);
        assert.ok(issuedDuring > 0, "the server wrote while the backup ran");
        assert.equal(statSync(backup).mode & 0o777, 0o600, "the backup is 0600");

        const again = await runCli(["backup", backup], { env: { SIGIL_DATA_DIR: dataDir } });
        assert.equal(again.code, 1);
        assert.match(again.stderr, /^sigil: backup: .* already exists; a backup never overwrites a file\n$/);
      } finally {
        await sigil.stop();
      }

      // What the operator kept: the copy, and the server secret (backed up on its own).
      const secret = readFileSync(path.join(dataDir, "server-secret"));
      rmSync(dataDir, { recursive: true, force: true });

      // Restored without the secret, nothing in it can be used, and start-up says why.
      mkdirSync(dataDir, { mode: 0o700 });
      copyFileSync(backup, path.join(dataDir, "sigil.db"));
      const without = await runCli(["serve", "--workers", "1", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"], { env: { SIGIL_DATA_DIR: dataDir } });
      assert.equal(without.code, 1);
      assert.match(without.stderr, /^sigil: SIGIL_SERVER_SECRET \(--server-secret\): the database's signing keys were sealed under another server secret/);
      rmSync(dataDir, { recursive: true, force: true });

      // The documented restore: a private directory, the secret, the copy as sigil.db.
      mkdirSync(dataDir, { mode: 0o700 });
      writeFileSync(path.join(dataDir, "server-secret"), secret, { mode: 0o600 });
      copyFileSync(backup, path.join(dataDir, "sigil.db"));
      const restored = await start({ SIGIL_DATA_DIR: dataDir });
      try {
        await assertAllVerify(restored.grpcUrl, credentials);
        const admin2 = createSigilClient({ baseUrl: restored.grpcUrl, adminKey });
        assert.equal((await admin2.listKeys({ owner: "svc:backup", pageSize: 100 })).keys.length, 6, "the admin key works, every key is listed");
      } finally {
        await restored.sigil.stop();
      }
    },
  );

  it("PostgreSQL: sigil backup points to pg_dump; pg_dump → wipe → pg_restore → every key, JWT and macaroon verifies", { skip: testDialect() !== "postgres" && "runs in the PostgreSQL pass" }, async () => {
    const bin = postgresBinDir()!;
    const database = await createTestDatabase();
    const dataDir = path.join(root, "pg-data");
    try {
      const refused = await runCli(["backup", path.join(root, "x.db")], { env: { SIGIL_DATABASE_URL: database.url } });
      assert.equal(refused.code, 2);
      assert.equal(refused.stderr, 'sigil: backup: SIGIL_DATABASE_URL is a PostgreSQL database; back it up with pg_dump (README: "Backup and restore")\n');

      const { sigil, grpcUrl } = await start({ SIGIL_DATA_DIR: dataDir, SIGIL_DATABASE_URL: database.url });
      const adminKey = readFileSync(path.join(dataDir, "admin.key"), "utf8").trim();
      const dump = path.join(root, "sigil.dump");
      let credentials: Credentials;
      try {
        credentials = await makeCredentials(createSigilClient({ baseUrl: grpcUrl, adminKey }), createSigilClient({ baseUrl: grpcUrl }));
        // Online, as documented: pg_dump takes one consistent snapshot while Sigil runs.
        await run(path.join(bin, "pg_dump"), ["--format=custom", "--no-owner", `--file=${dump}`, `--dbname=${database.url}`]);
      } finally {
        await sigil.stop();
      }
      const secret = readFileSync(path.join(dataDir, "server-secret"), "utf8").trim();
      rmSync(dataDir, { recursive: true, force: true });
      // Wipe: the database is dropped and made anew, empty.
      await database.drop();
      const url = new URL(database.url);
      const admin = new URL(database.url);
      admin.pathname = "/postgres";
      await run(path.join(bin, "psql"), [admin.toString(), "-v", "ON_ERROR_STOP=1", "-c", `create database ${url.pathname.slice(1)}`]);
      await run(path.join(bin, "pg_restore"), ["--no-owner", "--exit-on-error", `--dbname=${database.url}`, dump]);

      // A new machine: a fresh data dir, the server secret from the operator's safe keeping.
      const restored = await start({ SIGIL_DATA_DIR: dataDir, SIGIL_DATABASE_URL: database.url, SIGIL_SERVER_SECRET: secret });
      try {
        await assertAllVerify(restored.grpcUrl, credentials);
        const admin2 = createSigilClient({ baseUrl: restored.grpcUrl, adminKey });
        assert.equal((await admin2.listKeys({ owner: "svc:backup", pageSize: 100 })).keys.length, 6);
      } finally {
        await restored.sigil.stop();
      }
    } finally {
      await database.drop();
    }
  });
});
