import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fromJsonString } from "@bufbuild/protobuf";
import { AuditAction, ListAuditEventsResponseSchema } from "../../clients/typescript/src/gen/sigil/v1/audit_pb.js";
import { ImportKeyResultSchema } from "../../clients/typescript/src/gen/sigil/v1/key_import_pb.js";
import { RotateKeyResponseSchema, UpdateKeyResponseSchema } from "../../clients/typescript/src/gen/sigil/v1/key_lifecycle_pb.js";
import type { Key } from "../../clients/typescript/src/gen/sigil/v1/key_pb.js";
import { IssueKeyResponseSchema, VerifyKeyResponseSchema, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { runCli, type CliRun } from "../support/cli-process.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

function assertOneLineError(run: CliRun, code: number, pattern: RegExp): void {
  assert.equal(run.code, code, `exit code; stderr: ${run.stderr}`);
  const lines = run.stderr.split("\n").filter((l) => l.length > 0);
  assert.equal(lines.length, 1, `one line on stderr, got: ${run.stderr}`);
  assert.match(lines[0]!, pattern);
}

/** A key string of "another system": not a Sigil key, JWT or macaroon. */
function legacyKey(): string {
  return `legacy_${randomBytes(18).toString("hex")}`;
}

describe("sigil keys update | rotate | import, and sigil audit, against a live server", () => {
  let server: TestServer;
  let workDir: string;
  let env: Record<string, string>;
  let anon: Record<string, string>;
  const cli = (args: string[], opts: { env?: Record<string, string>; stdin?: string } = {}) =>
    runCli(args, { cwd: workDir, env: opts.env ?? env, stdin: opts.stdin, timeoutMs: 60_000 });
  const verify = async (credential: string, extra: string[] = []) => {
    const run = await cli(["verify", "-", "--json", ...extra], { env: anon, stdin: credential });
    assert.ok(run.code === 0 || run.code === 3, `verify: ${run.stderr}`);
    return fromJsonString(VerifyKeyResponseSchema, run.stdout.trim());
  };
  const issue = async (args: string[]) => {
    const run = await cli(["keys", "issue", "--json", ...args]);
    assert.equal(run.code, 0, run.stderr);
    return fromJsonString(IssueKeyResponseSchema, run.stdout.trim());
  };

  before(async () => {
    server = await startTestServer();
    workDir = mkdtempSync(path.join(tmpdir(), "sigil-cli-lifecycle-"));
    env = { SIGIL_SERVER: server.grpcUrl, SIGIL_ADMIN_KEY: server.adminKey };
    anon = { SIGIL_SERVER: server.grpcUrl };
  });
  after(async () => {
    await server.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  it("prints --help for the lifecycle commands", async () => {
    const helps = [["keys", "update", "--help"], ["keys", "rotate", "--help"], ["keys", "import", "--help"], ["audit", "--help"]];
    const runs = await Promise.all(helps.map((args) => cli(args, { env: {} })));
    runs.forEach((run, i) => {
      assert.equal(run.code, 0, `${helps[i]!.join(" ")}: ${run.stderr}`);
      assert.match(run.stdout, /^Usage: sigil/);
    });
  });

  it("updates only the fields given, disables and enables, sets and clears usage controls", async () => {
    const issued = await issue(["--name", "worker", "--owner", "svc:worker", "--scope", "read,write", "--meta", "team=a"]);
    const keyId = issued.key!.keyId;

    const renamed = await cli(["keys", "update", keyId, "--name", "worker-2", "--scope", "read", "--json"]);
    assert.equal(renamed.code, 0, renamed.stderr);
    const key = fromJsonString(UpdateKeyResponseSchema, renamed.stdout.trim()).key!;
    assert.equal(key.name, "worker-2");
    assert.deepEqual(key.scopes, ["read"]);
    assert.deepEqual(key.metadata, { team: "a" }, "fields not given stay");

    const disabled = await cli(["keys", "update", keyId, "--disable"]);
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.match(disabled.stdout, /^status\s+disabled$/m);
    assert.equal((await verify(issued.secret)).reason, VerifyReason.DISABLED);
    assert.equal((await cli(["keys", "update", keyId, "--enable"])).code, 0);
    assert.equal((await verify(issued.secret)).valid, true);

    const metered = await cli(["keys", "update", keyId, "--credits", "10", "--network", "10.0.0.0/8", "--json"]);
    assert.equal(metered.code, 0, metered.stderr);
    const meteredKey = fromJsonString(UpdateKeyResponseSchema, metered.stdout.trim()).key!;
    assert.equal(meteredKey.credits!.remaining, 10n);
    assert.deepEqual(meteredKey.allowedNetworks, ["10.0.0.0/8"]);
    assert.equal((await verify(issued.secret, ["--client-ip", "192.0.2.1"])).reason, VerifyReason.CLIENT_NETWORK_NOT_ALLOWED);
    const first = await verify(issued.secret, ["--client-ip", "10.1.2.3", "--cost", "3"]);
    assert.equal(first.valid, true);
    assert.equal(first.credits!.remaining, 7n);
    const human = await cli(["verify", "-", "--client-ip", "10.1.2.3"], { env: anon, stdin: issued.secret });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^credits\s+6 left$/m);

    const limited = await cli(["keys", "update", keyId, "--rate-limit", "2/1h", "--json"]);
    assert.equal(limited.code, 0, limited.stderr);
    assert.equal(fromJsonString(UpdateKeyResponseSchema, limited.stdout.trim()).key!.rateLimit!.requests, 2);
    assert.equal((await verify(issued.secret, ["--client-ip", "10.1.2.3"])).valid, true);
    assert.equal((await verify(issued.secret, ["--client-ip", "10.1.2.3"])).valid, true);
    assert.equal((await verify(issued.secret, ["--client-ip", "10.1.2.3"])).reason, VerifyReason.RATE_LIMITED);

    const cleared = await cli(["keys", "update", keyId, "--clear", "rate_limit,credits", "--clear", "networks", "--json"]);
    assert.equal(cleared.code, 0, cleared.stderr);
    const clearedKey = fromJsonString(UpdateKeyResponseSchema, cleared.stdout.trim()).key!;
    assert.equal(clearedKey.rateLimit, undefined);
    assert.equal(clearedKey.credits, undefined);
    assert.deepEqual(clearedKey.allowedNetworks, []);
    assert.equal((await verify(issued.secret)).valid, true);

    assertOneLineError(await cli(["keys", "update", keyId]), 2, /nothing to change/);
    assertOneLineError(await cli(["keys", "update", keyId, "--clear", "owner"]), 2, /--clear must name one of/);
    assertOneLineError(await cli(["keys", "update", keyId, "--scope", "x", "--clear", "scopes"]), 2, /scopes is given twice/);
    assertOneLineError(await cli(["keys", "update", keyId, "--rate-limit", "fast"]), 2, /--rate-limit must be <count>\/<duration>/);
    assert.equal((await cli(["keys", "revoke", keyId])).code, 0);
    assertOneLineError(await cli(["keys", "update", keyId, "--name", "too late"]), 1, /^sigil: FAILED_PRECONDITION: /);
  });

  it("rotates a key: prints the new secret once, and the old one works only during the grace period", async () => {
    const issued = await issue(["--name", "rotating", "--owner", "svc:rot", "--scope", "read"]);
    const keyId = issued.key!.keyId;
    const withGrace = await cli(["keys", "rotate", keyId, "--grace", "1h"]);
    assert.equal(withGrace.code, 0, withGrace.stderr);
    const secret = /^secret\s+(\S+)$/m.exec(withGrace.stdout)?.[1];
    assert.ok(secret?.startsWith(`sgl_${keyId}_`), withGrace.stdout);
    assert.notEqual(secret, issued.secret);
    assert.match(withGrace.stdout, /^key_secrets\s+.*current.*; .*previous.*until/m, "both secrets listed, the old one with its end");
    assert.match(withGrace.stderr, /shown only this once/);
    assert.equal((await verify(issued.secret)).valid, true, "old secret within its grace period");
    assert.equal((await verify(secret!)).valid, true);

    const now = await cli(["keys", "rotate", keyId, "--json"]);
    assert.equal(now.code, 0, now.stderr);
    const rotated = fromJsonString(RotateKeyResponseSchema, now.stdout.trim());
    assert.equal(rotated.key!.keyId, keyId);
    assert.equal((await verify(secret!)).valid, false, "no grace: the previous secret stops at once");
    assert.equal((await verify(rotated.secret)).valid, true);
    assertOneLineError(await cli(["keys", "rotate", keyId, "--grace", "soon"]), 2, /--grace must be a duration/);
  });

  it("imports a file of keys in batches, with progress and per-line failures, then skips existing ones on a re-run", async () => {
    const keys = Array.from({ length: 2100 }, legacyKey);
    // Line 1504 passes the CLI's checks but not the server's: it has this server's key prefix.
    const lines = ["# exported from the legacy gateway", ...keys.slice(0, 1500), "", keys[3]!, "sgl_lookalike_key", ...keys.slice(1500)];
    const file = path.join(workDir, "legacy-keys.txt");
    writeFileSync(file, lines.join("\n") + "\n");

    const run = await cli(["keys", "import", file, "--owner", "svc:legacy", "--scope", "read", "--batch-size", "1000"]);
    assert.equal(run.code, 1, "some keys failed");
    const total = keys.length + 2;
    const stderr = run.stderr.split("\n").filter((l) => l.length > 0);
    assert.deepEqual(
      stderr.filter((l) => l.startsWith("imported ")),
      [`imported 1000/${total}`, `imported 1998/${total}, failed 2`, `imported 2100/${total}, failed 2`],
    );
    assert.ok(stderr.some((l) => l.startsWith("line 1503: ALREADY_EXISTS: ")), `the duplicate of line 5 fails alone: ${run.stderr}`);
    assert.ok(stderr.some((l) => l.startsWith("line 1504: INVALID_ARGUMENT: ")), run.stderr);
    assert.equal(stderr.at(-1), `sigil: 2 of ${total} keys were not imported (see the lines above)`);
    for (const key of keys) assert.ok(!run.stderr.includes(key) && !run.stdout.includes(key), "no key is ever printed");

    const table = run.stdout.trimEnd().split("\n");
    assert.match(table[0]!, /^LINE\s+KEY ID\s+NAME$/);
    assert.equal(table.length, 1 + keys.length);
    assert.match(table[1]!, /^2\s+[A-Za-z0-9]{16}\s+legacy-keys\.txt:2$/);

    const imported = await verify(keys[2100 - 1]!, ["--scope", "read"]);
    assert.equal(imported.valid, true);
    assert.equal(imported.owner, "svc:legacy");

    const good = path.join(workDir, "good-keys.txt");
    writeFileSync(good, keys.slice(0, 50).join("\n"));
    const rerun = await cli(["keys", "import", good, "--owner", "svc:legacy", "--skip-existing"]);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.equal(rerun.stderr, "imported 0/50, skipped 50\n");
    assert.equal(rerun.stdout, "");
  });

  it("imports JSONL with per-line fields and SHA-256 digests; a malformed line imports nothing and is not quoted", async () => {
    const [a, b, c] = [legacyKey(), legacyKey(), legacyKey()];
    const sha = createHash("sha256").update(b).digest("hex");
    const file = path.join(workDir, "keys.jsonl");
    writeFileSync(
      file,
      [
        JSON.stringify({ rawKey: a, owner: "svc:a", name: "a", scopes: ["x"] }),
        JSON.stringify({ rawKeySha256: sha, name: "b", expireTime: new Date(Date.now() + 365 * 86_400_000).toISOString() }),
      ].join("\n"),
    );
    const run = await cli(["keys", "import", file, "--owner", "svc:default", "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const results = run.stdout.trim().split("\n").map((l) => fromJsonString(ImportKeyResultSchema, l));
    assert.equal(results.length, 2);
    assert.equal(results[0]!.result.case, "key");
    const secondResult = results[1]!.result;
    assert.equal(secondResult.case, "key");
    const second = secondResult.value as Key;
    assert.equal(second.owner, "svc:default", "a field the line leaves out comes from the flags");
    assert.equal(second.imported, true);
    assert.equal((await verify(b)).valid, true, "the key of an imported digest verifies");
    assert.deepEqual((await verify(a)).scopes, ["x"]);

    const bad = path.join(workDir, "bad.jsonl");
    writeFileSync(bad, [JSON.stringify({ rawKey: c, owner: "o" }), `{"rawKey": "${c}"`, JSON.stringify({ rawKey: 42, owner: c })].join("\n"));
    const rejected = await cli(["keys", "import", bad, "--owner", "o"]);
    assertOneLineError(rejected, 1, /has 2 malformed lines, nothing was imported: line 2: not valid JSON; line 3: not an ImportKeyRequest: bad value for ImportKeyRequest\.raw_key$/);
    assert.ok(!rejected.stderr.includes(c), "the file's keys are not quoted");
    assert.equal((await verify(c)).valid, false, "nothing of the file was imported");
    assertOneLineError(await cli(["keys", "import", path.join(workDir, "missing.txt"), "--owner", "o"]), 1, /cannot read .*missing\.txt: ENOENT/);
    assertOneLineError(await cli(["keys", "import", file, "--format", "lines"]), 2, /--owner is required/);
  });

  it("lists the audit trail: who changed which key, filtered by key, action and time", async () => {
    const issued = await issue(["--name", "audited", "--owner", "svc:audit"]);
    const keyId = issued.key!.keyId;
    assert.equal((await cli(["keys", "update", keyId, "--name", "audited-2"])).code, 0);
    assert.equal((await cli(["keys", "rotate", keyId, "--grace", "5m"])).code, 0);
    assert.equal((await cli(["keys", "revoke", keyId, "--reason", "done"])).code, 0);
    const adminKeyId = server.adminKey.split("_")[1]!;

    const table = await cli(["audit", "--key", keyId, "--since", "1h"]);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split("\n");
    assert.match(lines[0]!, /^SEQ\s+TIME\s+ACTION\s+KEY ID\s+ACTOR\s+DETAILS$/);
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(/\s{2,}/)[2]),
      ["revoke", "rotate", "update", "issue"],
      "newest first",
    );
    assert.ok(lines.slice(1).every((l) => l.split(/\s{2,}/)[4] === adminKeyId), "the admin key is the actor");
    assert.match(lines[1]!, /"reason":"done"/);

    const json = await cli(["audit", "--key", keyId, "--action", "rotate", "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const page = fromJsonString(ListAuditEventsResponseSchema, json.stdout.trim());
    assert.equal(page.events.length, 1);
    assert.equal(page.events[0]!.action, AuditAction.ROTATE_KEY);
    assert.ok(!json.stdout.includes(issued.secret.slice(-49)), "the trail holds no secret");

    const future = await cli(["audit", "--key", keyId, "--since", "2099-01-01T00:00:00Z"]);
    assert.equal(future.code, 0);
    assert.equal(future.stdout, "");
    assert.match(future.stderr, /no events/);
    assertOneLineError(await cli(["audit", "--action", "delete"]), 2, /--action must be one of issue, update, rotate, revoke, import/);
  });
});
