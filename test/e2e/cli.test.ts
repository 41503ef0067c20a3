import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fromJsonString } from "@bufbuild/protobuf";
import { IssueKeyResponseSchema, ListKeysResponseSchema, VerifyKeyResponseSchema, DeriveTokenResponseSchema, VerifyReason, CredentialKind } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { KeyStatus } from "../../clients/typescript/src/gen/sigil/v1/key_pb.js";
import { runCli, type CliRun } from "../support/cli-process.js";
import { createTestDatabase, testDialect } from "../support/postgres.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

/** `label  value` lines of the human output, as a map. */
function fieldsOf(stdout: string): Map<string, string> {
  return new Map(
    stdout
      .split("\n")
      .filter((l) => l.length > 0)
      .map((l) => {
        const m = /^(\S+)\s+(.*)$/.exec(l);
        assert.ok(m, `not a label/value line: ${l}`);
        return [m[1]!, m[2]!] as [string, string];
      }),
  );
}

function assertOneLineError(run: CliRun, code: number, pattern: RegExp): void {
  assert.equal(run.code, code, `exit code; stderr: ${run.stderr}`);
  assert.equal(run.stdout, "");
  const lines = run.stderr.split("\n").filter((l) => l.length > 0);
  assert.equal(lines.length, 1, `one line on stderr, got: ${run.stderr}`);
  assert.match(lines[0]!, pattern);
}

describe("sigil CLI against a live server", () => {
  let server: TestServer;
  let workDir: string;
  /** Environment of a CLI pointed at the test server with the admin key in SIGIL_ADMIN_KEY. */
  let adminEnv: Record<string, string>;
  const cli = (args: string[], opts: { env?: Record<string, string>; stdin?: string; cwd?: string } = {}) =>
    runCli(args, { cwd: opts.cwd ?? workDir, env: opts.env ?? adminEnv, stdin: opts.stdin });

  before(async () => {
    server = await startTestServer();
    workDir = mkdtempSync(path.join(tmpdir(), "sigil-cli-"));
    adminEnv = { SIGIL_SERVER: server.grpcUrl, SIGIL_ADMIN_KEY: server.adminKey };
  });
  after(async () => {
    await server.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  it("prints --help for every command and subcommand, and usage errors exit 2", async () => {
    const helps = [
      ["--help"],
      ["keys", "--help"],
      ["keys", "issue", "--help"],
      ["keys", "get", "--help"],
      ["keys", "list", "--help"],
      ["keys", "revoke", "--help"],
      ["tokens", "--help"],
      ["tokens", "derive", "--help"],
      ["verify", "--help"],
      ["migrate", "--help"],
      ["serve", "--help"],
    ];
    const runs = await Promise.all(helps.map((args) => cli(args, { env: {} })));
    runs.forEach((run, i) => {
      assert.equal(run.code, 0, `${helps[i]!.join(" ")}: ${run.stderr}`);
      assert.match(run.stdout, /^Usage: sigil/, helps[i]!.join(" "));
      assert.equal(run.stderr, "");
    });
    assert.match(runs[2]!.stdout, /--admin-key-file/);

    const [noCommand, unknown, unknownSub, unknownOption, missingName, badTtl] = await Promise.all([
      cli([]),
      cli(["frobnicate"]),
      cli(["keys", "frobnicate"]),
      cli(["keys", "list", "--frobnicate"]),
      cli(["keys", "issue", "--owner", "o"]),
      cli(["keys", "issue", "--name", "n", "--owner", "o", "--ttl", "soon"]),
    ]);
    assert.equal(noCommand.code, 2);
    assert.match(noCommand.stderr, /^Usage: sigil/);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^sigil: unknown command; the commands are serve, migrate, keys/);
    assertOneLineError(unknownSub, 2, /^sigil: keys: unknown command; the commands are issue, get, list/);
    assertOneLineError(unknownOption, 2, /^sigil: keys list: unknown option \(see sigil keys list --help\)$/);
    assertOneLineError(missingName, 2, /^sigil: keys issue: --name is required$/);
    assertOneLineError(badTtl, 2, /^sigil: --ttl must be a duration/);
  });

  it("issues, gets, verifies and revokes a key, as a table and as protobuf JSON", async () => {
    const issued = await cli(["keys", "issue", "--name", "ci deploy", "--owner", "ci:deploy", "--scope", "deploy:write,read", "--scope", "audit", "--meta", "team=infra", "--ttl", "30d"]);
    assert.equal(issued.code, 0, issued.stderr);
    const fields = fieldsOf(issued.stdout);
    const keyId = fields.get("key_id")!;
    const secret = fields.get("secret")!;
    assert.match(keyId, /^[A-Za-z0-9]{16}$/);
    assert.ok(secret.startsWith(`sgl_${keyId}_`), "the secret is the full key string");
    assert.equal(fields.get("scopes"), "deploy:write,read,audit");
    assert.equal(fields.get("metadata"), "team=infra");
    assert.equal(fields.get("status"), "active");
    const expires = Date.parse(fields.get("expires")!);
    assert.ok(Math.abs(expires - (Date.now() + 30 * 86_400_000)) < 60_000, `expires ${fields.get("expires")} is 30 days out, as ISO`);
    assert.match(issued.stderr, /shown only this once/);

    const got = await cli(["keys", "get", keyId]);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(fieldsOf(got.stdout).get("owner"), "ci:deploy");
    assert.ok(!got.stdout.includes(secret.slice(-49)), "get never shows the secret");

    // The credential goes through stdin, not argv.
    const verified = await cli(["verify", "-", "--scope", "read"], { env: { SIGIL_SERVER: server.grpcUrl }, stdin: secret + "\n" });
    assert.equal(verified.code, 0, verified.stderr);
    const v = fieldsOf(verified.stdout);
    assert.equal(v.get("valid"), "true");
    assert.equal(v.get("kind"), "api_key");
    assert.equal(v.get("key_id"), keyId);
    assert.ok(!verified.stdout.includes(secret), "verify does not echo the credential");

    const lacking = await cli(["verify", secret, "--scope", "admin", "--json"], { env: { SIGIL_SERVER: server.grpcUrl } });
    assert.equal(lacking.code, 3, "a credential that is not valid exits 3");
    const lackingJson = fromJsonString(VerifyKeyResponseSchema, lacking.stdout.trim());
    assert.equal(lackingJson.valid, false);
    assert.equal(lackingJson.reason, VerifyReason.INSUFFICIENT_SCOPE);
    assert.match(lacking.stdout, /"valid":false/, "implicit fields are printed for scripts");

    const revoked = await cli(["keys", "revoke", keyId, "--reason", "rotated out", "--json"]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const revokedKey = JSON.parse(revoked.stdout) as { key: { status: string; revokeReason: string } };
    assert.equal(revokedKey.key.status, "KEY_STATUS_REVOKED");
    assert.equal(revokedKey.key.revokeReason, "rotated out");

    const afterRevoke = await cli(["verify", "-"], { env: { SIGIL_SERVER: server.grpcUrl }, stdin: secret });
    assert.equal(afterRevoke.code, 3);
    assert.equal(fieldsOf(afterRevoke.stdout).get("reason"), "revoked");

    const json = await cli(["keys", "issue", "--name", "json", "--owner", "svc:json", "--json", "--expire-time", "2031-01-02T03:04:05Z"]);
    assert.equal(json.code, 0, json.stderr);
    assert.equal(json.stdout.trim().split("\n").length, 1, "one JSON object");
    const parsed = fromJsonString(IssueKeyResponseSchema, json.stdout.trim());
    assert.equal(parsed.key!.owner, "svc:json");
    assert.equal(parsed.key!.expireTime!.seconds, BigInt(Date.parse("2031-01-02T03:04:05Z") / 1000));
    assert.ok(parsed.secret.startsWith(`sgl_${parsed.key!.keyId}_`));
    assert.equal(json.stderr, "", "--json keeps notes off stderr too");
  });

  it("lists keys in aligned columns, filters, pages and follows pages with --all", async () => {
    const owner = "svc:listing";
    for (const name of ["alpha", "beta", "gamma"]) {
      const r = await cli(["keys", "issue", "--name", name, "--owner", owner, "--scope", "read"]);
      assert.equal(r.code, 0, r.stderr);
    }
    const all = await cli(["keys", "list", "--owner", owner]);
    assert.equal(all.code, 0, all.stderr);
    const lines = all.stdout.trimEnd().split("\n");
    assert.equal(lines.length, 4, "header and three keys");
    assert.match(lines[0]!, /^KEY ID\s+NAME\s+OWNER\s+STATUS\s+SCOPES\s+CREATED\s+EXPIRES$/);
    const ownerColumn = lines[0]!.indexOf("OWNER");
    for (const line of lines.slice(1)) {
      assert.equal(line.indexOf(owner), ownerColumn, `aligned: ${line}`);
      assert.match(line, /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\s+-$/, "ISO create time, no expiry");
    }
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(/\s{2,}/)[1]),
      ["gamma", "beta", "alpha"],
      "newest first",
    );

    const page = await cli(["keys", "list", "--owner", owner, "--page-size", "2"]);
    assert.equal(page.code, 0, page.stderr);
    assert.equal(page.stdout.trimEnd().split("\n").length, 3);
    const token = /more keys: sigil keys list --page-token (\S+)/.exec(page.stderr)?.[1];
    assert.ok(token, `next page noted on stderr: ${page.stderr}`);
    const rest = await cli(["keys", "list", "--owner", owner, "--page-size", "2", "--page-token", token]);
    assert.equal(rest.stdout.trimEnd().split("\n").length, 2);
    assert.equal(rest.stderr, "", "last page: no note");

    const followed = await cli(["keys", "list", "--owner", owner, "--page-size", "2", "--all", "--json"]);
    assert.equal(followed.code, 0, followed.stderr);
    const pages = followed.stdout.trim().split("\n").map((l) => fromJsonString(ListKeysResponseSchema, l));
    assert.equal(pages.length, 2, "one ListKeysResponse per page");
    assert.deepEqual(pages.flatMap((p) => p.keys.map((k) => k.name)), ["gamma", "beta", "alpha"]);
    assert.ok(pages.flatMap((p) => p.keys).every((k) => k.status === KeyStatus.ACTIVE));

    const revokedOnly = await cli(["keys", "list", "--owner", owner, "--status", "revoked"]);
    assert.equal(revokedOnly.code, 0);
    assert.equal(revokedOnly.stdout, "");
    assert.match(revokedOnly.stderr, /no keys/);
    assertOneLineError(await cli(["keys", "list", "--status", "lost"]), 2, /--status must be one of active, disabled, revoked, expired/);
    assertOneLineError(await cli(["keys", "list", "--page-size", "5000"]), 2, /--page-size must be at most 1000/);
  });

  it("derives JWTs and macaroons with the parent key from a file, stdin or SIGIL_KEY", async () => {
    const issued = fromJsonString(
      IssueKeyResponseSchema,
      (await cli(["keys", "issue", "--name", "agent", "--owner", "agent:x", "--scope", "read,write", "--json"])).stdout.trim(),
    );
    const keyFile = path.join(workDir, "agent.key");
    writeFileSync(keyFile, issued.secret + "\n", { mode: 0o600 });
    const anon = { SIGIL_SERVER: server.grpcUrl };

    const [jwt, macaroon, fromEnv] = await Promise.all([
      cli(["tokens", "derive", "--key-file", keyFile, "--scope", "read", "--ttl", "5m", "--audience", "billing", "--json"], { env: anon }),
      cli(["tokens", "derive", "--key-file", "-", "--format", "macaroon"], { env: anon, stdin: issued.secret }),
      cli(["tokens", "derive", "--json"], { env: { ...anon, SIGIL_KEY: issued.secret } }),
    ]);
    assert.equal(jwt.code, 0, jwt.stderr);
    const token = fromJsonString(DeriveTokenResponseSchema, jwt.stdout.trim());
    assert.deepEqual(token.scopes, ["read"]);
    assert.equal(token.keyId, issued.key!.keyId);
    assert.equal(token.token.split(".").length, 3, "a JWT");

    assert.equal(macaroon.code, 0, macaroon.stderr);
    const m = fieldsOf(macaroon.stdout);
    assert.equal(m.get("format"), "macaroon");
    assert.equal(m.get("scopes"), "read,write", "all of the parent's scopes by default");
    assert.ok(m.get("token")!.startsWith("sgm_"));

    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.deepEqual(fromJsonString(DeriveTokenResponseSchema, fromEnv.stdout.trim()).scopes, ["read", "write"]);

    const [jwtOk, jwtWrongAudience, macaroonOk] = await Promise.all([
      cli(["verify", "-", "--audience", "billing", "--json"], { env: anon, stdin: token.token }),
      cli(["verify", "-", "--audience", "search"], { env: anon, stdin: token.token }),
      cli(["verify", "-", "--scope", "write"], { env: anon, stdin: m.get("token")! }),
    ]);
    assert.equal(jwtOk.code, 0, jwtOk.stderr);
    const jwtAnswer = fromJsonString(VerifyKeyResponseSchema, jwtOk.stdout.trim());
    assert.equal(jwtAnswer.kind, CredentialKind.JWT);
    assert.equal(jwtAnswer.tokenId, token.tokenId);
    assert.equal(jwtWrongAudience.code, 3);
    assert.equal(fieldsOf(jwtWrongAudience.stdout).get("reason"), "audience_mismatch");
    assert.equal(macaroonOk.code, 0, macaroonOk.stderr);
    assert.equal(fieldsOf(macaroonOk.stdout).get("kind"), "macaroon");

    const wider = await cli(["tokens", "derive", "--key-file", keyFile, "--scope", "admin"], { env: anon });
    assertOneLineError(wider, 1, /^sigil: (INVALID_ARGUMENT|PERMISSION_DENIED): /);
    assert.ok(!wider.stderr.includes(issued.secret.slice(-49)));
    assertOneLineError(await cli(["tokens", "derive"], { env: anon }), 2, /SIGIL_KEY/);
    assertOneLineError(await cli(["tokens", "derive", "--key-file", path.join(workDir, "missing.key")], { env: anon }), 1, /cannot read --key-file .*ENOENT/);
  });

  it("takes the admin key from a flag, a variable, a file or ./data/admin.key, and never prints it", async () => {
    const keyFile = path.join(workDir, "admin.key");
    writeFileSync(keyFile, server.adminKey + "\n", { mode: 0o600 });
    const cwdWithDefault = mkdtempSync(path.join(workDir, "default-"));
    mkdirSync(path.join(cwdWithDefault, "data"));
    writeFileSync(path.join(cwdWithDefault, "data", "admin.key"), server.adminKey + "\n", { mode: 0o600 });
    const base = { SIGIL_SERVER: server.grpcUrl };
    const list = ["keys", "list", "--page-size", "1"];
    const runs = await Promise.all([
      cli([...list, "--admin-key", server.adminKey], { env: base }),
      cli([...list, "--admin-key-file", keyFile], { env: base }),
      cli(list, { env: { ...base, SIGIL_ADMIN_KEY_FILE: keyFile } }),
      cli(list, { env: base, cwd: cwdWithDefault }),
      cli([...list, "--admin-key-file", "-"], { env: base, stdin: server.adminKey }),
      // The flag wins over a wrong variable.
      cli([...list, "--admin-key-file", keyFile], { env: { ...base, SIGIL_ADMIN_KEY: "sgl_wrong" } }),
    ]);
    runs.forEach((run, i) => assert.equal(run.code, 0, `source ${i}: ${run.stderr}`));

    const missing = await cli(list, { env: base });
    assertOneLineError(missing, 2, /needs an admin key/);

    const wrongKey = `sgl_${"A".repeat(16)}_${"B".repeat(49)}`;
    const rejected = await cli(list, { env: { ...base, SIGIL_ADMIN_KEY: wrongKey } });
    assertOneLineError(rejected, 1, /^sigil: UNAUTHENTICATED: /);
    assert.ok(!rejected.stderr.includes("B".repeat(49)), "the rejected key is not echoed");

    const emptyFile = path.join(workDir, "empty.key");
    writeFileSync(emptyFile, "\n");
    assertOneLineError(await cli([...list, "--admin-key-file", emptyFile], { env: base }), 2, /--admin-key-file is empty/);
  });

  it("lets the holder of a leaked key revoke it with the key itself, without an admin key", async () => {
    const issued = fromJsonString(IssueKeyResponseSchema, (await cli(["keys", "issue", "--name", "leaked", "--owner", "svc:leak", "--json"])).stdout.trim());
    const other = fromJsonString(IssueKeyResponseSchema, (await cli(["keys", "issue", "--name", "other", "--owner", "svc:leak", "--json"])).stdout.trim());
    const anon = { SIGIL_SERVER: server.grpcUrl };
    const notItsOwn = await cli(["keys", "revoke", other.key!.keyId, "--key-file", "-"], { env: anon, stdin: issued.secret });
    assertOneLineError(notItsOwn, 1, /^sigil: (PERMISSION_DENIED|UNAUTHENTICATED): /);
    const self = await cli(["keys", "revoke", issued.key!.keyId, "--key-file", "-", "--reason", "found in a public repo"], { env: anon, stdin: issued.secret });
    assert.equal(self.code, 0, self.stderr);
    assert.match(self.stdout, /^status\s+revoked$/m);
    assert.match(self.stdout, /^revoke_reason\s+found in a public repo$/m);
  });

  it("maps server errors to one line with the gRPC code, and exit code 1", async () => {
    const [notFound, invalid, down, badServer] = await Promise.all([
      cli(["keys", "get", "AAAAAAAAAAAAAAAA"]),
      cli(["keys", "list", "--page-token", "bm90LWEtdG9rZW4"]),
      cli(["keys", "list"], { env: { ...adminEnv, SIGIL_SERVER: "http://127.0.0.1:1" } }),
      cli(["keys", "list", "--server", "ftp://example"]),
    ]);
    assertOneLineError(notFound, 1, /^sigil: NOT_FOUND: key AAAAAAAAAAAAAAAA not found$/);
    assertOneLineError(invalid, 1, /^sigil: INVALID_ARGUMENT: page_token: not a token/);
    assertOneLineError(down, 1, /^sigil: UNAVAILABLE: /);
    assertOneLineError(badServer, 2, /^sigil: --server must start with http:\/\/ or https:\/\/$/);
  });

  it("sigil migrate brings a fresh database up to date, and again finds nothing to do", async () => {
    const dataDir = path.join(workDir, "migrate-data");
    // The database of the dialect under test: a fresh PostgreSQL database, or SQLite in a new data dir.
    const postgres = testDialect() === "postgres" ? await createTestDatabase() : undefined;
    try {
      const target = postgres ? ["--database-url", postgres.url] : ["--data-dir", dataDir];
      const first = await cli(["migrate", ...target, "--json"], { env: {} });
      assert.equal(first.code, 0, first.stderr);
      const result = JSON.parse(first.stdout) as { dialect: string; applied: string[] };
      assert.equal(result.dialect, testDialect());
      assert.equal(result.applied[0], "0001_initial");
      if (postgres) assert.ok(!first.stdout.includes(postgres.url), "the database URL (it may hold a password) is not printed");
      else assert.equal(statSync(dataDir).mode & 0o777, 0o700, "the data dir is private, as sigil serve makes it");
      const again = await cli(["migrate"], { env: postgres ? { SIGIL_DATABASE_URL: postgres.url } : { SIGIL_DATA_DIR: dataDir } });
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.stdout, `${testDialect()} database is up to date\n`);
    } finally {
      await postgres?.drop();
    }
    assertOneLineError(await cli(["migrate", "--database-url", "mysql://x"], { env: {} }), 2, /SIGIL_DATABASE_URL/);
  });
});
