import assert from "node:assert/strict";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { createSigilClient } from "../../clients/typescript/src/index.js";
import { runCli } from "../support/cli-process.js";
import { databaseForTest, testDialect, type TestDatabase } from "../support/postgres.js";
import { startSigilProcess } from "../support/sigil-process.js";

const SECRET = "v1:" + Buffer.alloc(32, 9).toString("base64");
const isRoot = process.getuid?.() === 0;

describe(`secrets from files: SIGIL_SERVER_SECRET_FILE and SIGIL_DATABASE_URL_FILE (${testDialect()})`, () => {
  let root: string;
  let n = 0;
  const file = (content: string, mode = 0o600) => {
    const f = path.join(root, `secret${n++}`);
    writeFileSync(f, content, { mode });
    chmodSync(f, mode);
    return f;
  };
  before(() => {
    root = mkdtempSync(path.join(tmpdir(), "sigil-secret-files-"));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it("serves with both read from files (trailing newline ignored); keys made under the file's secret verify with the same secret given plainly", async () => {
    const dataDir = path.join(root, `data${n++}`);
    const database: TestDatabase = await databaseForTest(path.join(root, `db${n++}`));
    if (database.url.startsWith("sqlite:")) mkdirSync(path.dirname(database.url.slice("sqlite:".length)), { mode: 0o700 });
    const secretFile = file(SECRET + "\n");
    const urlFile = file(database.url + "\r\n");
    try {
      const first = startSigilProcess(["--workers", "1"], { SIGIL_DATA_DIR: dataDir, SIGIL_SERVER_SECRET_FILE: secretFile, SIGIL_DATABASE_URL_FILE: urlFile });
      let key: string;
      try {
        const [listening] = await first.waitForListening(1);
        assert.ok(!existsSync(path.join(dataDir, "server-secret")), "no generated secret: the file's is used");
        if (database.url.startsWith("sqlite:")) assert.ok(existsSync(database.url.slice("sqlite:".length)), "the database named in the file is used");
        const admin = createSigilClient({ baseUrl: listening!.grpcUrl, adminKey: readFileSync(path.join(dataDir, "admin.key"), "utf8").trim() });
        key = (await admin.issueKey({ name: "n", owner: "svc:file" })).secret;
        assert.ok(!first.lines.join("\n").includes(SECRET), "the secret is never logged");
      } finally {
        await first.stop();
      }
      // The same secret given plainly: what the file held, without its newline.
      const second = startSigilProcess(["--workers", "1"], { SIGIL_DATA_DIR: dataDir, SIGIL_SERVER_SECRET: SECRET, SIGIL_DATABASE_URL: database.url });
      try {
        const [listening] = await second.waitForListening(1);
        assert.equal((await createSigilClient({ baseUrl: listening!.grpcUrl }).verifyKey({ credential: key })).valid, true);
      } finally {
        await second.stop();
      }
    } finally {
      await database.drop();
    }
  });

  /** `sigil serve` expected to stop at once with one line (exit 2, like every wrong setting). */
  async function refused(env: Record<string, string>, line: RegExp, secretText?: string): Promise<void> {
    const dataDir = path.join(root, `data${n++}`);
    const run = await runCli(["serve", "--workers", "1", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"], { env: { SIGIL_DATA_DIR: dataDir, ...env } });
    assert.equal(run.code, 2, run.stderr);
    const lines = run.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0]!, line);
    if (secretText) assert.ok(!run.stderr.includes(secretText) && !run.stdout.includes(secretText), "the file's content is never echoed");
    assert.ok(!existsSync(dataDir), "nothing was started");
  }

  it("refuses a file and the plain variable together", async () => {
    await refused({ SIGIL_SERVER_SECRET_FILE: file(SECRET), SIGIL_SERVER_SECRET: SECRET }, /^sigil: SIGIL_SERVER_SECRET_FILE \(--server-secret-file\) and SIGIL_SERVER_SECRET \(--server-secret\) are both set: use one$/);
    await refused({ SIGIL_DATABASE_URL_FILE: file("sqlite::memory:"), SIGIL_DATABASE_URL: "sqlite::memory:" }, /^sigil: SIGIL_DATABASE_URL_FILE \(--database-url-file\) and SIGIL_DATABASE_URL \(--database-url\) are both set/);
  });

  it("refuses a link, a file others can write, a file of another user and a missing file", async () => {
    const target = file(SECRET);
    const link = path.join(root, `link${n++}`);
    symlinkSync(target, link);
    await refused({ SIGIL_SERVER_SECRET_FILE: link }, new RegExp(`^sigil: SIGIL_SERVER_SECRET_FILE \\(--server-secret-file\\): ${link} is a symbolic link`));
    await refused({ SIGIL_DATABASE_URL_FILE: file("sqlite::memory:", 0o622) }, /^sigil: SIGIL_DATABASE_URL_FILE \(--database-url-file\): .* is group- or world-writable \(mode 0622\)/);
    await refused({ SIGIL_SERVER_SECRET_FILE: path.join(root, "missing") }, /: .*missing does not exist$/);
    if (isRoot) {
      const foreign = file(SECRET);
      chownSync(foreign, 65534, 65534);
      await refused({ SIGIL_SERVER_SECRET_FILE: foreign }, /is owned by uid 65534, not by the server's user \(uid 0\)/);
    }
  });

  it("names the file, never its content, when the content is not valid", async () => {
    const password = "hunter2-in-a-url";
    await refused({ SIGIL_DATABASE_URL_FILE: file(`mysql://sigil:${password}@db/sigil\n`) }, /^sigil: SIGIL_DATABASE_URL_FILE \(--database-url-file\): \S+ is not valid: must be sqlite:<path> or postgres:\/\/\.\.\./, password);
    await refused({ SIGIL_SERVER_SECRET_FILE: file("not-a-secret\n") }, /^sigil: SIGIL_SERVER_SECRET_FILE \(--server-secret-file\): \S+ is not valid/, "not-a-secret");
    await refused({ SIGIL_SERVER_SECRET_FILE: file("") }, /^sigil: SIGIL_SERVER_SECRET_FILE .* is not valid/);
  });
});
