import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fromJsonString } from "@bufbuild/protobuf";
import { GetKeyResponseSchema, IssueKeyResponseSchema } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { openDatabase } from "../../src/store/open-database.js";
import { runCli, type CliRun } from "../support/cli-process.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

/** A key-shaped secret pasted where it does not belong: no output may contain it. */
const PASTED = "sgl_AAAAAAAAAAAAAAAA_q7Yk2Rm9Tc4Wn8Hp3Jv6Lx1Bz5Gd0Fs2Ke7Pa9Uc4Mh8Nr3Xt6";
/** Every character the server refuses in text, as a stored row from before that rule could hold. */
const HOSTILE = "a\u001b[2Jb\u007fc\u009b31md\u202eevil\u2066e\u061cf\u200eg\u2028h";

function oneLine(run: CliRun, code: number): string {
  assert.equal(run.code, code, `exit code; stderr: ${run.stderr}`);
  const lines = run.stderr.split("\n").filter((l) => l.length > 0);
  assert.equal(lines.length, 1, `one line on stderr, got: ${run.stderr}`);
  return lines[0]!;
}

describe("sigil CLI: what it says about wrong input, and what it never prints", () => {
  let server: TestServer;
  let workDir: string;
  let adminEnv: Record<string, string>;
  /** Points at a port nothing listens on: a usage error proves nothing was sent (a call would fail UNAVAILABLE, exit 1). */
  let offlineEnv: Record<string, string>;
  const cli = (args: string[], env: Record<string, string> = adminEnv, stdin?: string) => runCli(args, { cwd: workDir, env, stdin });

  before(async () => {
    server = await startTestServer();
    workDir = mkdtempSync(path.join(tmpdir(), "sigil-cli-messages-"));
    adminEnv = { SIGIL_SERVER: server.grpcUrl, SIGIL_ADMIN_KEY: server.adminKey };
    offlineEnv = { SIGIL_SERVER: "http://127.0.0.1:1", SIGIL_ADMIN_KEY: server.adminKey };
  });
  after(async () => {
    await server.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  it("never echoes an argument that could be a secret, in any usage error", async () => {
    const cases: string[][] = [
      [PASTED],
      ["keys", PASTED],
      ["keys", "get", `--${PASTED}`],
      ["keys", "get", `--${PASTED}=x`],
      ["keys", "list", `--json=${PASTED}`],
      ["keys", "list", "--server", PASTED],
      ["keys", "list", "--server", `http://user:${PASTED}@127.0.0.1:1`],
      ["keys", "list", "--server", `http://127.0.0.1:1/${PASTED}`],
      ["keys", "list", "--status", PASTED],
      ["keys", "list", "--page-size", PASTED],
      ["keys", "get", PASTED],
      ["keys", "issue", "--name", "n", "--owner", "o", "--ttl", PASTED],
      ["keys", "issue", "--name", "n", "--owner", "o", "--expire-time", PASTED],
      ["keys", "issue", "--name", "n", "--owner", "o", "--meta", PASTED],
      ["keys", "issue", "--name", "n", "--owner", "o", "--meta", `a=1`, "--meta", `a=${PASTED}`],
      ["keys", "issue", "--name", "n", "--owner", "o", "--rate-limit", PASTED],
      ["keys", "issue", "--name", "n", "--owner", "o", "--network", PASTED],
      ["keys", "update", "AAAAAAAAAAAAAAAA", "--clear", PASTED],
      ["tokens", "derive", "--format", PASTED, "--key", PASTED],
      ["audit", "--since", PASTED],
      ["verify", PASTED, "--client-ip", PASTED],
    ];
    const runs = await Promise.all(cases.map((args) => cli(args, offlineEnv)));
    runs.forEach((run, i) => {
      const what = cases[i]!.join(" ").replaceAll(PASTED, "<pasted>");
      assert.equal(run.code, 2, `${what}: ${run.stderr}`);
      // The key id part alone is public; the secret part must not appear at all.
      assert.ok(!run.stderr.includes(PASTED.slice(21, 40)) && !run.stdout.includes(PASTED.slice(21, 40)), `${what} printed the value: ${run.stderr}`);
    });
    assert.equal(oneLine(await cli(["keys", "list"], { ...offlineEnv, SIGIL_SERVER: PASTED }), 2), "sigil: SIGIL_SERVER must be a URL like http://127.0.0.1:4420");
  });

  it("names a known command or option that an unknown one resembles, and no other", async () => {
    assert.match((await cli(["kyes"], offlineEnv)).stderr, /^sigil: unknown command; did you mean keys\?\n/);
    assert.equal(oneLine(await cli(["keys", "isue"], offlineEnv), 2), "sigil: keys: unknown command; did you mean issue? (see sigil keys --help)");
    assert.equal(oneLine(await cli(["keys", "issue", "--scopes", "a"], offlineEnv), 2), "sigil: keys issue: unknown option; did you mean --scope? (see sigil keys issue --help)");
    assert.equal(oneLine(await cli(["keys", "list", "--status"], offlineEnv), 2), "sigil: keys list: --status needs a value (for one starting with -, write --status=<value>) (see sigil keys list --help)");
  });

  it("checks the server's limits before sending, naming the flag in its own units", async () => {
    const expectations: Array<[string[], string]> = [
      [["keys", "rotate", "AAAAAAAAAAAAAAAA", "--grace", "31d"], "sigil: --grace must be at most 30d"],
      [["keys", "issue", "--name", "n", "--owner", "o", "--ttl", "3651d"], "sigil: --ttl must be at most 3650d"],
      [["keys", "issue", "--name", "n", "--owner", "o", "--ttl", "500ms"], "sigil: --ttl must be at least 1s"],
      [["keys", "issue", "--name", "n", "--owner", "o", "--expire-time", "2001-01-01T00:00:00Z"], "sigil: --expire-time must be in the future"],
      [["keys", "issue", "--name", "n", "--owner", "o", "--expire-time", "2999-01-01T00:00:00Z"], "sigil: --expire-time must be at most 3650d from now"],
      [["keys", "update", "AAAAAAAAAAAAAAAA", "--ttl", "9999d"], "sigil: --ttl must be at most 3650d"],
      [["keys", "issue", "--name", "n", "--owner", "o", "--rate-limit", "100/2d"], "sigil: --rate-limit window must be between 1s and 1d (86400s)"],
      [["keys", "issue", "--name", "n", "--owner", "o", "--rate-limit", "2000000/1s"], "sigil: --rate-limit count must be 1 to 1000000"],
      [["keys", "issue", "--name", "n", "--owner", "o", "--rate-limit", "10/1s", "--rate-burst", "2000000"], "sigil: --rate-burst must be 0 (same as requests) to 1000000"],
      [["keys", "issue", "--name", "n", "--owner", "o", "--credits-refill", "10/400d"], "sigil: --credits-refill interval must be between 1s and 366d (31622400s)"],
      [["keys", "issue", "--name", "n".repeat(129), "--owner", "o"], "sigil: --name must be 1 to 128 characters"],
      [["keys", "issue", "--name", "tab\there", "--owner", "o"], "sigil: --name must not contain control or bidirectional-formatting characters (U+0009 at position 3)"],
      [["keys", "issue", "--name", "n", "--owner", "svc billing"], "sigil: --owner must be 1 to 128 printable ASCII characters without spaces"],
      [["keys", "issue", "--name", "n", "--owner", "o", "--scope", "no spaces"], "sigil: --scope must be 1 to 128 characters of A-Z a-z 0-9 : . _ / * -"],
      [["keys", "issue", "--name", "n", "--owner", "o", "--meta", "team=\u202eevil"], 'sigil: --meta must not contain control or bidirectional-formatting characters (U+202E at position 0)'],
      [["keys", "issue", "--name", "n", "--owner", "o", "--network", "10.1.2.3/8"], "sigil: --network: host bits are set; the network is 10.0.0.0/8"],
      [["keys", "revoke", "AAAAAAAAAAAAAAAA", "--reason", "r".repeat(513)], "sigil: --reason must be at most 512 characters"],
      [["keys", "get", "not-a-key-id"], "sigil: <key-id> must be a 16-character base62 key id"],
      [["tokens", "derive", "--key", "k", "--audience", "a\u2066b"], "sigil: --audience must not contain control or bidirectional-formatting characters (U+2066 at position 1)"],
      [["verify", "x", "--cost", "2000000"], "sigil: --cost must be at most 1000000"],
      [["audit", "--actor", "x"], "sigil: --actor must be a 16-character base62 key id"],
    ];
    const runs = await Promise.all(expectations.map(([args]) => cli(args, offlineEnv)));
    runs.forEach((run, i) => assert.equal(oneLine(run, 2), expectations[i]![1], expectations[i]![0].join(" ")));
  });

  it("keys import checks key lengths before sending anything, and never quotes the key", async () => {
    const file = path.join(workDir, "short.txt");
    const good = "legacy_0123456789abcdef";
    writeFileSync(file, [good, "seven77", good.replace("0", "1"), "x".repeat(513)].join("\n"));
    const run = await cli(["keys", "import", file, "--owner", "svc:legacy"]);
    const line = oneLine(run, 1);
    assert.equal(line, `sigil: ${file} has 2 malformed lines, nothing was imported: line 2: the key is shorter than 8 characters; line 4: the key is longer than 512 characters`);
    assert.ok(!run.stderr.includes("seven77"));
    const verified = await cli(["verify", good, "--json"]);
    assert.equal(verified.code, 3, "the good line was not imported either");
  });

  it("says when and why tokens derive got a shorter lifetime than asked for", async () => {
    const issue = async (args: string[]) => fromJsonString(IssueKeyResponseSchema, (await cli(["keys", "issue", "--name", "agent", "--owner", "agent:cap", "--scope", "read", "--json", ...args])).stdout.trim());
    const longLived = await issue([]);
    const anon = { SIGIL_SERVER: server.grpcUrl, SIGIL_KEY: longLived.secret };
    const capped = await cli(["tokens", "derive", "--ttl", "2h"], anon);
    assert.equal(capped.code, 0, capped.stderr);
    assert.equal(capped.stderr, "note: the token lives 1h, not the 2h asked for: capped at the server's longest token lifetime (SIGIL_TOKEN_MAX_TTL)\n");
    const asked = await cli(["tokens", "derive", "--ttl", "30m"], anon);
    assert.equal(asked.stderr, "", "no note when the token lives as asked");

    const shortLived = await issue(["--ttl", "10m"]);
    const parentCapped = await cli(["tokens", "derive", "--ttl", "30m", "--json"], { ...anon, SIGIL_KEY: shortLived.secret });
    assert.equal(parentCapped.code, 0, parentCapped.stderr);
    assert.match(parentCapped.stderr, /^note: the token lives (9m5\ds|10m), not the 30m asked for: capped at the parent key's expiry \(\d{4}-\d\d-\d\dT[\d:.]+Z\); a token never outlives its key\n$/);
    const json = JSON.parse(parentCapped.stdout) as { lifetimeLimit: string };
    assert.equal(json.lifetimeLimit, "TOKEN_LIFETIME_LIMIT_PARENT_EXPIRY");
  });

  it("escapes control and bidi characters of stored rows in tables, fields, JSON and errors", async () => {
    const issued = fromJsonString(IssueKeyResponseSchema, (await cli(["keys", "issue", "--name", "plain", "--owner", "svc:old", "--json"])).stdout.trim());
    const keyId = issued.key!.keyId;
    // A row written before the server refused these characters (or by an older server).
    const { db } = openDatabase(server.databaseUrl);
    try {
      await db.updateTable("keys").set({ name: HOSTILE, metadata: JSON.stringify({ note: HOSTILE }) }).where("key_id", "=", keyId).execute();
      await db.updateTable("audit_events").set({ details: JSON.stringify({ name: HOSTILE }) }).where("key_id", "=", keyId).execute();
    } finally {
      await db.destroy();
    }
    const escaped = "a\\x1b[2Jb\\x7fc\\x9b31md\\u202eevil\\u2066e\\u061cf\\u200eg\\u2028h";
    const unsafe = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/;

    const get = await cli(["keys", "get", keyId]);
    assert.equal(get.code, 0, get.stderr);
    assert.doesNotMatch(get.stdout, unsafe);
    assert.match(get.stdout, new RegExp(`^name\\s+${escapeRegExp(escaped)}$`, "m"));
    assert.match(get.stdout, new RegExp(`^metadata\\s+note=${escapeRegExp(escaped)}$`, "m"));

    const list = await cli(["keys", "list", "--owner", "svc:old"]);
    assert.equal(list.code, 0, list.stderr);
    assert.doesNotMatch(list.stdout, unsafe);
    assert.ok(list.stdout.includes(escaped));

    const json = await cli(["keys", "get", keyId, "--json"]);
    assert.doesNotMatch(json.stdout, unsafe);
    assert.equal(fromJsonString(GetKeyResponseSchema, json.stdout.trim()).key!.name, HOSTILE, "JSON escapes read back as the same text");

    const audit = await cli(["audit", "--key", keyId]);
    assert.equal(audit.code, 0, audit.stderr);
    assert.doesNotMatch(audit.stdout, unsafe);
    assert.ok(audit.stdout.includes("\\u202eevil"), audit.stdout);
  });

  it("shows a revoked key as not enabled, and tells a key it may only revoke itself", async () => {
    const issue = async (name: string) => fromJsonString(IssueKeyResponseSchema, (await cli(["keys", "issue", "--name", name, "--owner", "svc:self", "--json"])).stdout.trim());
    const [mine, other] = await Promise.all([issue("mine"), issue("other")]);
    const keyFile = path.join(workDir, "mine.key");
    writeFileSync(keyFile, mine.secret, { mode: 0o600 });
    const anon = { SIGIL_SERVER: server.grpcUrl };

    const refused = await cli(["keys", "revoke", other.key!.keyId, "--key-file", keyFile], anon);
    const line = oneLine(refused, 1);
    assert.equal(line, `sigil: PERMISSION_DENIED: a key may only revoke itself: key ${mine.key!.keyId} cannot revoke key ${other.key!.keyId} (that needs an admin key)`);

    const revoked = await cli(["keys", "revoke", mine.key!.keyId, "--key-file", keyFile], anon);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /^status\s+revoked$/m);
    assert.match(revoked.stdout, /^enabled\s+false$/m);
    const shown = await cli(["keys", "get", mine.key!.keyId]);
    assert.match(shown.stdout, /^enabled\s+false$/m);
    assert.match((await cli(["keys", "get", other.key!.keyId])).stdout, /^enabled\s+true$/m, "the other key is untouched");
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
