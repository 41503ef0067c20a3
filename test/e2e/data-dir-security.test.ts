import assert from "node:assert/strict";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import BetterSqlite3 from "better-sqlite3";
import { createSigilClient } from "../../clients/typescript/src/index.js";
import { runCli, type CliRun } from "../support/cli-process.js";
import { testDialect } from "../support/postgres.js";
import { startSigilProcess } from "../support/sigil-process.js";

/** uid/gid of `nobody`: another local user (the tests run as root, here and in CI). */
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const VALID_SECRET = "v1:" + Buffer.alloc(32, 7).toString("base64") + "\n";

/** `sigil serve` on free ports with `dataDir`, expected to refuse to start. */
function serve(dataDir: string, env: Record<string, string> = {}): Promise<CliRun> {
  return runCli(["serve", "--workers", "1"], {
    env: { SIGIL_DATA_DIR: dataDir, SIGIL_GRPC_ADDR: "127.0.0.1:0", SIGIL_HTTP_ADDR: "127.0.0.1:0", SIGIL_LOG_LEVEL: "warn", ...env },
  });
}

/** A refusal: exit code 1 and exactly one line on stderr, naming the setting and matching `what`. */
function assertRefused(run: CliRun, what: RegExp, setting = "SIGIL_DATA_DIR"): void {
  assert.equal(run.code, 1, `exit code; stderr: ${run.stderr}`);
  const lines = run.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line on stderr, got:\n${run.stderr}`);
  assert.ok(lines[0]!.startsWith(`sigil: ${setting} (`), lines[0]);
  assert.match(lines[0]!, what);
  assert.ok(!run.stdout.includes("sigil is listening"), "it did not start");
}

const mode = (file: string) => statSync(file).mode & 0o7777;

describe("the data directory cannot be taken over", { skip: testDialect() === "postgres" && "files only: runs in the SQLite pass" }, () => {
  let root: string;
  let n = 0;
  /** A fresh path inside a private (0700, root-owned) parent; created when `create`. */
  const dir = (create = true) => {
    const d = path.join(root, `d${n++}`);
    if (create) mkdirSync(d, { mode: 0o700 });
    return d;
  };
  before(() => {
    root = mkdtempSync(path.join(tmpdir(), "sigil-datadir-"));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it("creates the directory 0700 and every file in it 0600 from the start, database -wal and -shm included", async () => {
    const dataDir = dir(false);
    const server = startSigilProcess(["--workers", "1"], { SIGIL_DATA_DIR: dataDir });
    try {
      const [listening] = await server.waitForListening(1);
      // A write, so the WAL is in use.
      const adminKey = readFileSync(path.join(dataDir, "admin.key"), "utf8").trim();
      await createSigilClient({ baseUrl: listening!.grpcUrl, adminKey }).issueKey({ name: "n", owner: "svc:a" });
      assert.equal(mode(dataDir), 0o700);
      const files = readdirSync(dataDir).sort();
      assert.deepEqual(files, ["admin.key", "server-secret", "sigil.db", "sigil.db-shm", "sigil.db-wal"], "no temporary file left");
      for (const f of files) {
        const s = lstatSync(path.join(dataDir, f));
        assert.ok(s.isFile(), f);
        assert.equal(s.mode & 0o7777, 0o600, `${f} is 0600`);
        assert.equal(s.uid, process.getuid!(), `${f} belongs to the server's user`);
      }
    } finally {
      await server.stop();
    }
  });

  it("refuses a world-writable directory (mode 1777) and neither reads nor writes a secret planted there", async () => {
    const dataDir = dir();
    chmodSync(dataDir, 0o1777);
    // What another local user would plant: a secret they know, and an empty admin.key open to all.
    writeFileSync(path.join(dataDir, "server-secret"), VALID_SECRET, { mode: 0o644 });
    writeFileSync(path.join(dataDir, "admin.key"), "", { mode: 0o666 });
    chmodSync(path.join(dataDir, "admin.key"), 0o666);
    const run = await serve(dataDir);
    assertRefused(run, /is group- or world-writable \(mode 1777\)/);
    assert.ok(run.stderr.includes(dataDir), "names the directory");
    assert.equal(readFileSync(path.join(dataDir, "admin.key"), "utf8"), "", "no admin key written into the planted file");
    assert.ok(!existsSync(path.join(dataDir, "sigil.db")), "no database created");
  });

  it("refuses a group-writable directory", async () => {
    const dataDir = dir();
    chmodSync(dataDir, 0o770);
    assertRefused(await serve(dataDir), /is group- or world-writable \(mode 0770\)/);
  });

  it("refuses a directory owned by another user", { skip: !isRoot && "needs root to chown" }, async () => {
    const dataDir = dir();
    chownSync(dataDir, NOBODY, NOBODY);
    const run = await serve(dataDir);
    assertRefused(run, new RegExp(`is owned by uid ${NOBODY}, not by the server's user \\(uid 0\\)`));
    assert.deepEqual(readdirSync(dataDir), [], "nothing written into it");
  });

  it("refuses a planted server-secret or admin.key owned by another user, or writable by others", { skip: !isRoot && "needs root to chown" }, async () => {
    for (const name of ["server-secret", "admin.key"]) {
      const foreign = dir();
      writeFileSync(path.join(foreign, name), name === "server-secret" ? VALID_SECRET : "", { mode: 0o600 });
      chownSync(path.join(foreign, name), NOBODY, NOBODY);
      assertRefused(await serve(foreign), new RegExp(`${name} is owned by uid ${NOBODY}`));

      const writable = dir();
      writeFileSync(path.join(writable, name), name === "server-secret" ? VALID_SECRET : "");
      chmodSync(path.join(writable, name), 0o620);
      assertRefused(await serve(writable), new RegExp(`${name} is group- or world-writable \\(mode 0620\\)`));
      assert.ok(!existsSync(path.join(writable, "sigil.db")));
    }
  });

  it("never follows a symbolic link for server-secret or admin.key", async () => {
    const elsewhere = dir();
    const target = path.join(elsewhere, "target");
    writeFileSync(target, VALID_SECRET, { mode: 0o600 });
    for (const name of ["server-secret", "admin.key"]) {
      const dataDir = dir();
      symlinkSync(target, path.join(dataDir, name));
      assertRefused(await serve(dataDir), new RegExp(`${name} is a symbolic link; Sigil does not follow links for secret files`));
      assert.equal(readFileSync(target, "utf8"), VALID_SECRET, "the link's target is untouched");
      // A dangling link (to where another user could create the file later) too.
      const dangling = dir();
      symlinkSync(path.join(elsewhere, `missing-${name}`), path.join(dangling, name));
      assertRefused(await serve(dangling), /is a symbolic link/);
      assert.ok(!existsSync(path.join(elsewhere, `missing-${name}`)), "nothing created through the link");
    }
  });

  it("refuses a database, -wal or -shm file that others can write", async () => {
    for (const suffix of ["", "-wal", "-shm"]) {
      const dataDir = dir();
      const file = path.join(dataDir, `sigil.db${suffix}`);
      writeFileSync(file, "");
      chmodSync(file, 0o664);
      assertRefused(await serve(dataDir), new RegExp(`sigil\\.db${suffix} is group- or world-writable \\(mode 0664\\)`));
    }
  });

  it("names SIGIL_DATABASE_URL for a SQLite database in a world-writable directory outside the data dir", async () => {
    const dbDir = dir();
    chmodSync(dbDir, 0o777);
    const run = await serve(dir(), { SIGIL_DATABASE_URL: `sqlite:${path.join(dbDir, "sigil.db")}` });
    assertRefused(run, /is group- or world-writable \(mode 0777\)/, "SIGIL_DATABASE_URL");
    assert.ok(!existsSync(path.join(dbDir, "sigil.db")));
  });

  it("says in one line that a data dir which is a file, or cannot be created, is unusable", async () => {
    const file = path.join(root, `file${n++}`);
    writeFileSync(file, "not a directory");
    assertRefused(await serve(file), new RegExp(`${file} is not a directory`));
    assertRefused(await serve(path.join(file, "data")), new RegExp(`${file}/data cannot be created \\(ENOTDIR\\)`));
  });

  it("never leaves an admin key file without its row, nor a row without its file", async (t) => {
    // The file cannot be written (a full file system: the data dir's tmpfs has an inode for the
    // directory only; the server secret comes from the environment): start-up fails and no
    // bootstrap key exists.
    const dataDir = dir();
    const dbDir = dir();
    const database = path.join(dbDir, "sigil.db");
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k,nr_inodes=1,mode=0700", "tmpfs", dataDir], { stdio: "ignore" });
    } catch {
      t.skip("cannot mount a tmpfs here");
      return;
    }
    try {
      const full = await serve(dataDir, { SIGIL_DATABASE_URL: `sqlite:${database}`, SIGIL_SERVER_SECRET: VALID_SECRET.trim() });
      assertRefused(full, /cannot write the first admin key to .*admin\.key \(ENOSPC\)/);
      assert.deepEqual(readdirSync(dataDir), []);
      const db = new BetterSqlite3(database, { readonly: true });
      assert.equal((db.prepare("select count(*) as n from keys").get() as { n: number }).n, 0, "no key row without its file");
      db.close();
    } finally {
      execFileSync("umount", [dataDir]);
    }

    // The row cannot be written (the database refuses the insert): start-up fails and the file is gone.
    const refusing = dir();
    assert.equal((await runCli(["migrate", "--data-dir", refusing], { env: {} })).code, 0);
    const db = new BetterSqlite3(path.join(refusing, "sigil.db"));
    db.exec("create trigger refuse_keys before insert on keys begin select raise(abort, 'refused by the test'); end");
    db.close();
    const refused = await serve(refusing);
    assert.equal(refused.code, 1, refused.stderr);
    assert.equal(refused.stderr.trimEnd().split("\n").length, 1, refused.stderr);
    assert.ok(!existsSync(path.join(refusing, "admin.key")), "the admin key file was removed again");
    assert.deepEqual(readdirSync(refusing).filter((f) => f.includes("admin")), [], "no temporary file left either");
  });
});
