import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createPrivateKey } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { decodeJwt, SignJWT } from "jose";
import { createSigilClient, OfflineVerifier, TokenFormat, VerifyReason, type OfflineVerifierOptions, type SigilClient } from "../../clients/typescript/src/index.js";
import { TokenLifetimeLimit } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { TenantPolicySchema } from "../../clients/typescript/src/gen/sigil/v1/tenant_pb.js";
import { parseServerSecrets } from "../../src/keys/server-secrets.js";
import { Sealer } from "../../src/keys/sealer.js";
import { openDatabase } from "../../src/store/open-database.js";
import { answerOf } from "../support/call-outcome.js";
import { runCli } from "../support/cli-process.js";
import { testDialect } from "../support/postgres.js";
import { protocolClients } from "../support/protocol-clients.js";
import { startSigilProcess } from "../support/sigil-process.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

/** python3-jwt (PyJWT) and python3-cryptography from Debian: /usr/bin's python sees them, a pyenv one may not. */
const PYTHON = "/usr/bin/python3";
const PYJWT_VERIFY = `
import json, sys, urllib.request, jwt
jwks_url, issuer = sys.argv[1], sys.argv[2]
token = sys.stdin.read().strip()
kid = jwt.get_unverified_header(token)["kid"]
jwk = next(k for k in json.load(urllib.request.urlopen(jwks_url))["keys"] if k["kid"] == kid)
print(json.dumps(jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["EdDSA"], issuer=issuer, options={"verify_aud": False})))
`;
const pyjwtMissing = spawnSync(PYTHON, ["-c", "import jwt, cryptography"]).status === 0 ? undefined : `PyJWT with cryptography not importable by ${PYTHON} (apt-get install python3-jwt)`;

/**
 * Bound for a tenant change to reach another instance through the change feed (polled every 250 ms,
 * and woken at each commit on PostgreSQL), generous for a loaded machine; a process whose follower
 * does not drop the tenant's issuer never converges.
 */
const OTHER_PROCESS_BOUND_MS = 5000;
/** Well past the 1 s for which a process once trusted an issuer before reading it again on its own. */
const NO_TIMER_WAIT_MS = 3000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mask = (...paths: string[]) => create(FieldMaskSchema, { paths });
const GLOBEX_ISSUER = "https://auth.globex.example";

describe(`per-tenant JWT issuer, audience and derived-token lifetime (${testDialect()})`, () => {
  let server: TestServer;
  let platform: SigilClient;
  let anonymous: SigilClient;
  /** Every token minted here: none may reach a log line. */
  const tokens: string[] = [];
  const verifiers: OfflineVerifier[] = [];
  const keys: Record<"default" | "acme" | "globex", { keyId: string; secret: string }> = {} as never;

  async function derive(tenant: keyof typeof keys, init: { audience?: string; ttlMs?: number; format?: TokenFormat } = {}) {
    const d = await anonymous.deriveToken({
      credential: keys[tenant].secret,
      format: init.format ?? TokenFormat.JWT,
      audience: init.audience ?? "",
      ttl: init.ttlMs === undefined ? undefined : durationFromMs(init.ttlMs),
    });
    tokens.push(d.token);
    return d;
  }

  const verdict = async (client: SigilClient, credential: string, audience = "") => {
    const v = await client.verifyKey({ credential, audience });
    return v.valid ? `valid ${v.tenantId}` : VerifyReason[v.reason];
  };

  before(async () => {
    server = await startTestServer({ SIGIL_WATCH_STREAMS_PER_KEY: "64" });
    platform = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    anonymous = createSigilClient({ baseUrl: server.grpcUrl });
    await platform.createTenant({ tenantId: "acme", displayName: "Acme" });
    const globex = await platform.createTenant({ tenantId: "globex", jwtIssuer: GLOBEX_ISSUER, jwtAudience: "globex-api" });
    assert.deepEqual([globex.tenant?.jwtIssuer, globex.tenant?.jwtAudience], [GLOBEX_ISSUER, "globex-api"]);
    for (const tenant of ["default", "acme", "globex"] as const) {
      const r = await platform.issueKey({ tenantId: tenant === "default" ? "" : tenant, name: "agent", owner: `agent:${tenant}`, scopes: ["orders:read"] });
      keys[tenant] = { keyId: r.key!.keyId, secret: r.secret };
    }
  });
  after(async () => {
    await Promise.all(verifiers.map((v) => v.close()));
    await server?.close();
  });

  it("derived JWTs carry iss and tenant: the server's issuer for default, <issuer>/tenants/<id> for the others, the configured one and its default audience", async () => {
    const claims = async (tenant: keyof typeof keys, audience?: string) => {
      const c = decodeJwt((await derive(tenant, { audience })).token);
      return [c.iss, c.tenant, c.aud];
    };
    assert.deepEqual(await claims("default"), ["sigil", "default", undefined], "single-tenant deployments see the same iss");
    assert.deepEqual(await claims("acme"), ["sigil/tenants/acme", "acme", undefined]);
    assert.deepEqual(await claims("globex"), [GLOBEX_ISSUER, "globex", "globex-api"], "configured issuer and default audience");
    assert.deepEqual(await claims("globex", "other-api"), [GLOBEX_ISSUER, "globex", "other-api"], "a named audience wins");

    // Sigil verifies each with its own tenant's issuer; the default audience binds like a named one.
    assert.equal(await verdict(anonymous, (await derive("acme")).token), "valid acme");
    const globexToken = (await derive("globex")).token;
    assert.equal(await verdict(anonymous, globexToken), "AUDIENCE_MISMATCH");
    assert.equal(await verdict(anonymous, globexToken, "globex-api"), "valid globex");
    // A macaroon gets no default audience (its holder adds aud caveats).
    const macaroon = await derive("globex", { format: TokenFormat.MACAROON });
    assert.equal(await verdict(anonymous, macaroon.token), "valid globex");

    const listed = (await platform.listTenants({})).tenants.map((t) => [t.tenantId, t.jwtIssuer, t.jwtAudience]);
    assert.deepEqual(listed, [["acme", "", ""], ["default", "", ""], ["globex", GLOBEX_ISSUER, "globex-api"]], "Get/List show what is configured (empty: the default)");
  });

  it("an outside JWT library (PyJWT) verifies a tenant's token against the JWKS with the tenant's issuer", { skip: pyjwtMissing }, async () => {
    const token = (await derive("acme")).token;
    // Asynchronously: the server answering its JWKS request runs on this event loop.
    const run = (issuer: string) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(PYTHON, ["-c", PYJWT_VERIFY, `${server.httpUrl}/.well-known/jwks.json`, issuer]);
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("error", reject);
        child.on("close", (status) => resolve({ status, stdout, stderr }));
        child.stdin.end(token);
      });
    const ok = await run("sigil/tenants/acme");
    assert.equal(ok.status, 0, ok.stderr);
    const claims = JSON.parse(ok.stdout) as Record<string, unknown>;
    assert.deepEqual([claims.iss, claims.tenant, claims.key_id], ["sigil/tenants/acme", "acme", keys.acme.keyId]);
    const wrong = await run("sigil");
    assert.notEqual(wrong.status, 0);
    assert.match(wrong.stderr, /InvalidIssuerError/);
  });

  it("bad jwt_issuer, jwt_audience and max_derived_token_lifetime are INVALID_ARGUMENT naming the field, on every protocol; a taken issuer is ALREADY_EXISTS", async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ jwtIssuer: "has space" }, /^InvalidArgument: jwt_issuer: must be 1 to 256 printable ASCII characters without spaces$/],
      [{ jwtIssuer: "x".repeat(257) }, /^InvalidArgument: jwt_issuer: must be 1 to 256 printable ASCII characters without spaces$/],
      [{ jwtIssuer: "https://issuér.example" }, /^InvalidArgument: jwt_issuer: must be 1 to 256 printable ASCII/],
      [{ jwtIssuer: "sigil" }, /^InvalidArgument: jwt_issuer: the server's issuer and issuers under sigil\/tenants\/ are the tenants' defaults/],
      [{ jwtIssuer: "sigil/tenants/acme" }, /^InvalidArgument: jwt_issuer: the server's issuer and issuers under sigil\/tenants\/ are the tenants' defaults/],
      [{ jwtAudience: "a".repeat(257) }, /^InvalidArgument: jwt_audience: must be at most 256 characters$/],
      [{ jwtAudience: "tab\there" }, /^InvalidArgument: jwt_audience: /],
      [{ policy: { maxDerivedTokenLifetime: durationFromMs(500) } }, /^InvalidArgument: policy\.max_derived_token_lifetime: must be between 1s and 1h/],
      [{ policy: { maxDerivedTokenLifetime: durationFromMs(3_600_001) } }, /^InvalidArgument: policy\.max_derived_token_lifetime: must be between 1s and 1h/],
      [{ jwtIssuer: GLOBEX_ISSUER }, /^AlreadyExists: jwt_issuer: another tenant has \(or a deleted tenant had\) this issuer/],
    ];
    let n = 0;
    for (const [protocol, client] of protocolClients(server)) {
      for (const [fields, expected] of cases) {
        const answer = await answerOf(client.createTenant({ tenantId: `bad-${n++}`, ...fields }));
        assert.match(answer, expected, `${protocol} CreateTenant ${JSON.stringify(fields, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))}`);
        const paths = Object.keys(fields).map((f) => (f === "jwtIssuer" ? "jwt_issuer" : f === "jwtAudience" ? "jwt_audience" : "policy"));
        const updated = await answerOf(client.updateTenant({ tenant: { tenantId: "acme", ...fields }, updateMask: mask(...paths) }));
        const field = expected.source.replace(/^\^(\w+): /, "$1: tenant.");
        assert.match(updated, new RegExp(field), `${protocol} UpdateTenant`);
      }
    }
    assert.equal((await platform.listTenants({})).tenants.length, 3, "no tenant was made by a refused CreateTenant");
    const acme = (await platform.getTenant({ tenantId: "acme" })).tenant!;
    assert.deepEqual([acme.jwtIssuer, acme.jwtAudience, acme.policy], ["", "", undefined], "nor changed by a refused UpdateTenant");
  });

  it("tokens whose iss or tenant claim is not their key's tenant's are rejected like a bad issuer, even when signed with the real key", async () => {
    // Forged with the server's own signing key (read from the database with the server secret):
    // what an attacker holding it could mint is refused when claims and key disagree.
    const { db } = openDatabase(server.databaseUrl);
    let signingKey: { kid: string; sealed: string };
    try {
      const row = await db.selectFrom("signing_keys").select(["kid", "sealed_private_key"]).where("retire_time", "is", null).executeTakeFirstOrThrow();
      signingKey = { kid: row.kid, sealed: row.sealed_private_key };
    } finally {
      await db.destroy();
    }
    const sealer = new Sealer(parseServerSecrets(server.joinEnv.SIGIL_SERVER_SECRET!), "jwt signing key");
    const privateKey = createPrivateKey({ key: sealer.unseal(signingKey.sealed, signingKey.kid), format: "der", type: "pkcs8" });
    const forge = async (claims: { iss: string; tenant?: string; key_id: string }) => {
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ scope: "orders:read", ...claims })
        .setProtectedHeader({ alg: "EdDSA", kid: signingKey.kid, typ: "JWT" })
        .setSubject("agent")
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + 300)
        .setJti(`forged-${tokens.length}`)
        .sign(privateKey);
      tokens.push(token);
      return token;
    };
    const acme = keys.acme.keyId;
    assert.equal(await verdict(anonymous, await forge({ iss: "sigil/tenants/acme", tenant: "acme", key_id: acme })), "valid acme", "the forge itself is sound");
    assert.equal(await verdict(anonymous, await forge({ iss: GLOBEX_ISSUER, tenant: "globex", key_id: acme })), "BAD_SIGNATURE", "another tenant's iss and tenant on acme's key");
    assert.equal(await verdict(anonymous, await forge({ iss: "sigil/tenants/acme", tenant: "globex", key_id: acme })), "BAD_SIGNATURE", "acme's iss, another tenant claim");
    assert.equal(await verdict(anonymous, await forge({ iss: "sigil", tenant: "default", key_id: acme })), "BAD_SIGNATURE", "the platform's iss on a tenant's key");
    assert.equal(await verdict(anonymous, await forge({ iss: "sigil", key_id: acme })), "BAD_SIGNATURE", "no tenant claim: judged by iss alone");
    assert.equal(await verdict(anonymous, await forge({ iss: "sigil", key_id: keys.default.keyId })), "valid default", "a default token from before tenant claims still verifies");

    // Genuine tokens with their claims edited keep the old signature: refused as well.
    const [head, body, sig] = (await derive("acme")).token.split(".");
    const edited = { ...(JSON.parse(Buffer.from(body!, "base64url").toString()) as object), iss: GLOBEX_ISSUER, tenant: "globex" };
    assert.equal(await verdict(anonymous, `${head}.${Buffer.from(JSON.stringify(edited)).toString("base64url")}.${sig}`), "BAD_SIGNATURE");

    // A verifier restricted to another tenant: the token's key does not exist for it.
    const restricted = await anonymous.verifyKey({ credential: (await derive("acme")).token, tenantId: "globex" });
    assert.equal(VerifyReason[restricted.reason], "NOT_FOUND");

    // The gateways verify through the same path: forward auth refuses the forged token.
    const forged = await forge({ iss: GLOBEX_ISSUER, tenant: "globex", key_id: acme });
    const authorize = await fetch(`${server.httpUrl}/v1/authorize`, { headers: { authorization: `Bearer ${forged}` } });
    assert.equal(authorize.status, 401);
    const genuine = await fetch(`${server.httpUrl}/v1/authorize`, { headers: { authorization: `Bearer ${(await derive("acme")).token}` } });
    assert.equal(genuine.status, 200);
    assert.equal(genuine.headers.get("x-sigil-tenant-id"), "acme");
  });

  it("an issuer change reaches other processes through the change feed: tokens of the old issuer stop verifying at once here and at the feed entry in another process; new ones verify in both", async () => {
    // Another `sigil serve` process on the same database (and server secret).
    const otherDir = mkdtempSync(path.join(tmpdir(), "sigil-tenant-tokens-"));
    const second = startSigilProcess(["--data-dir", otherDir], { ...server.joinEnv, SIGIL_LOG_LEVEL: "info" });
    const { db } = openDatabase(server.databaseUrl);
    const feedEntries = async () =>
      Number((await db.selectFrom("change_feed").select((eb) => eb.fn.countAll().as("n")).where("action", "=", "tenant_update").where("tenant_id", "=", "globex").executeTakeFirstOrThrow()).n);
    const untilRefused = async (client: SigilClient, token: string, what: string) => {
      const start = performance.now();
      while ((await verdict(client, token, "globex-api")) !== "BAD_SIGNATURE") {
        assert.ok(performance.now() - start < OTHER_PROCESS_BOUND_MS, what);
        await sleep(50);
      }
    };
    try {
      const [listening] = await second.waitForListening(1);
      const there = createSigilClient({ baseUrl: listening!.grpcUrl });
      const before = (await derive("globex", { audience: "globex-api" })).token;
      assert.equal(await verdict(there, before, "globex-api"), "valid globex", "the other process has read (and cached) globex's issuer");
      assert.equal(await verdict(anonymous, before, "globex-api"), "valid globex");

      // An issuer written to the tenants table without a feed entry is not seen, however long one
      // waits: no process reads an issuer again on a timer, only when the feed says the tenant changed.
      await db.updateTable("tenants").set({ jwt_issuer: "https://direct.globex.example" }).where("tenant_id", "=", "globex").execute();
      // (Verified again and again: a timer's re-read could answer the old issuer once while it reads.)
      const quiet = performance.now() + NO_TIMER_WAIT_MS;
      while (performance.now() < quiet) {
        assert.equal(await verdict(there, before, "globex-api"), "valid globex", "the other process keeps the issuer it read");
        assert.equal(await verdict(anonymous, before, "globex-api"), "valid globex", "and so does this one");
        await sleep(250);
      }
      // Any UpdateTenant of the issuer or audience writes one tenant_update entry; each process that
      // applies it reads the tenant's issuer again (here the one written directly).
      const entries = await feedEntries();
      await platform.updateTenant({ tenant: { tenantId: "globex", jwtAudience: "globex-api" }, updateMask: mask("jwt_audience") });
      assert.equal(await feedEntries(), entries + 1, "an audience change is on the feed");
      await untilRefused(there, before, "the other process drops globex's issuer at the feed entry");
      await untilRefused(anonymous, before, "this process too (its own follower)");

      // Through UpdateTenant: at once on the instance that made the change, at the feed entry on the other.
      const middle = (await derive("globex", { audience: "globex-api" })).token;
      assert.equal(decodeJwt(middle).iss, "https://direct.globex.example");
      assert.equal(await verdict(there, middle, "globex-api"), "valid globex");
      await platform.updateTenant({ tenant: { tenantId: "globex", jwtIssuer: "https://auth2.globex.example" }, updateMask: mask("jwt_issuer") });
      assert.equal(await feedEntries(), entries + 2, "one entry per update");
      assert.equal(await verdict(anonymous, middle, "globex-api"), "BAD_SIGNATURE", "on the instance that made the change, at once");
      await untilRefused(there, middle, "the other process reads the new issuer");
      // A token derived in the other process carries the new issuer (derive reads the tenant's row).
      const d = await there.deriveToken({ credential: keys.globex.secret, audience: "globex-api" });
      tokens.push(d.token);
      assert.equal(decodeJwt(d.token).iss, "https://auth2.globex.example");
      assert.equal(await verdict(anonymous, d.token, "globex-api"), "valid globex");
      assert.equal(await verdict(there, d.token, "globex-api"), "valid globex");

      // The policy too: set in one process, applied by the next derive in the other.
      await platform.updateTenant({ tenant: { tenantId: "globex", policy: { maxDerivedTokenLifetime: durationFromMs(60_000) } }, updateMask: mask("policy") });
      assert.match(await answerOf(there.deriveToken({ credential: keys.globex.secret, ttl: durationFromMs(120_000) })), /^FailedPrecondition: tenant globex policy max_derived_token_lifetime: /);
      for (const token of tokens) assert.ok(!second.lines.some((l) => l.includes(token.split(".")[2] ?? token)), "no token in the other process's log");
      // Audited like every tenant change (read from the database).
      const rows = await db.selectFrom("audit_events").select(["details"]).where("action", "=", "update_tenant").where("tenant_id", "=", "globex").orderBy("seq").execute();
      const details = rows.map((r) => JSON.parse(r.details) as Record<string, unknown>);
      assert.deepEqual(details.slice(0, 2), [{ fields: ["jwt_audience"], jwt_audience: "globex-api" }, { fields: ["jwt_issuer"], jwt_issuer: "https://auth2.globex.example" }]);
      const created = await db.selectFrom("audit_events").select(["details"]).where("action", "=", "create_tenant").where("tenant_id", "=", "globex").executeTakeFirstOrThrow();
      assert.deepEqual(JSON.parse(created.details), { display_name: "", policy: {}, jwt_issuer: GLOBEX_ISSUER, jwt_audience: "globex-api" });
    } finally {
      await second.stop("SIGTERM");
      rmSync(otherDir, { recursive: true, force: true });
      await db.destroy();
    }
    // Back to the default: "" in the mask clears it.
    const reset = await platform.updateTenant({ tenant: { tenantId: "globex", jwtIssuer: "", policy: undefined }, updateMask: mask("jwt_issuer", "policy") });
    assert.deepEqual([reset.tenant?.jwtIssuer, reset.tenant?.policy], ["", undefined]);
    assert.equal(decodeJwt((await derive("globex")).token).iss, "sigil/tenants/globex");
    await platform.updateTenant({ tenant: { tenantId: "globex", jwtIssuer: GLOBEX_ISSUER }, updateMask: mask("jwt_issuer") });
  });

  it("max_derived_token_lifetime: a longer ttl is FAILED_PRECONDITION naming it (JWT and macaroon, gRPC and Connect); without a ttl the default is cut to it", async () => {
    await platform.updateTenant({ tenant: { tenantId: "acme", policy: create(TenantPolicySchema, { maxDerivedTokenLifetime: durationFromMs(60_000) }) }, updateMask: mask("policy") });
    assert.equal((await platform.getTenant({ tenantId: "acme" })).tenant?.policy?.maxDerivedTokenLifetime?.seconds, 60n);
    const connect = createSigilClient({ baseUrl: server.httpUrl, protocol: "connect" });
    for (const client of [anonymous, connect]) {
      for (const format of [TokenFormat.JWT, TokenFormat.MACAROON]) {
        const refused = await answerOf(client.deriveToken({ credential: keys.acme.secret, format, ttl: durationFromMs(61_000) }));
        assert.equal(refused, "FailedPrecondition: tenant acme policy max_derived_token_lifetime: derived tokens may live at most 60s: request a shorter ttl");
      }
    }
    // No ttl: the server's default (15 min) is cut to the policy's minute, and the answer says why.
    const cut = await derive("acme");
    assert.deepEqual([cut.ttl?.seconds, cut.lifetimeLimit], [60n, TokenLifetimeLimit.TENANT_POLICY]);
    const c = decodeJwt(cut.token);
    assert.equal(c.exp! - c.iat!, 60);
    const macaroon = await derive("acme", { format: TokenFormat.MACAROON });
    assert.deepEqual([macaroon.ttl?.seconds, macaroon.lifetimeLimit], [60n, TokenLifetimeLimit.TENANT_POLICY]);
    assert.equal(await verdict(anonymous, macaroon.token), "valid acme");
    // Within it: as asked.
    const within = await derive("acme", { ttlMs: 30_000 });
    assert.deepEqual([within.ttl?.seconds, within.lifetimeLimit], [30n, TokenLifetimeLimit.UNSPECIFIED]);
    // Other tenants are not bound by it.
    const other = await derive("default", { ttlMs: 600_000 });
    assert.deepEqual([other.ttl?.seconds, other.lifetimeLimit], [600n, TokenLifetimeLimit.UNSPECIFIED]);
    await platform.updateTenant({ tenant: { tenantId: "acme" }, updateMask: mask("policy") });
    assert.equal((await derive("acme", { ttlMs: 120_000 })).ttl?.seconds, 120n, "a cleared policy limits nothing");
  });

  it("OfflineVerifier bound to a tenant accepts that tenant's tokens only; unbound it accepts its issuer's tenant only", async () => {
    const verifyKey = (await platform.issueKey({ name: "edge verifier", owner: "svc:edge", scopes: ["sigil:verify"] })).secret;
    const start = async (options: Partial<OfflineVerifierOptions>) => {
      const v = new OfflineVerifier({ baseUrl: server.grpcUrl, credential: verifyKey, ...options });
      verifiers.push(v);
      await v.start();
      return v;
    };
    const tokenOf = { default: (await derive("default")).token, acme: (await derive("acme")).token, globex: (await derive("globex", { audience: "globex-api" })).token };
    const outcome = async (v: OfflineVerifier, token: string) => {
      const r = await v.verify(token, { audience: "globex-api" });
      return r.valid ? `valid ${r.tenantId}` : VerifyReason[r.reason];
    };
    const answers = async (v: OfflineVerifier) => [await outcome(v, tokenOf.default), await outcome(v, tokenOf.acme), await outcome(v, tokenOf.globex)];

    // Bound to acme, its default issuer derived from the tenant id.
    assert.deepEqual(await answers(await start({ tenantId: "acme" })), ["ISSUER_MISMATCH", "valid acme", "ISSUER_MISMATCH"]);
    // Bound to globex, whose issuer is its own.
    assert.deepEqual(await answers(await start({ tenantId: "globex", issuer: GLOBEX_ISSUER })), ["ISSUER_MISMATCH", "ISSUER_MISMATCH", "valid globex"]);
    // Bound to acme but told globex's issuer: the tenant claim still keeps globex out.
    assert.deepEqual(await answers(await start({ tenantId: "acme", issuer: GLOBEX_ISSUER })), ["ISSUER_MISMATCH", "ISSUER_MISMATCH", "ISSUER_MISMATCH"]);
    // Unbound: as before, the default issuer "sigil", which only the tenant default's tokens carry.
    assert.deepEqual(await answers(await start({})), ["valid default", "ISSUER_MISMATCH", "ISSUER_MISMATCH"]);
    // Unbound with globex's issuer: globex's tokens (issuers are unique, so no other tenant's).
    assert.deepEqual(await answers(await start({ issuer: GLOBEX_ISSUER })), ["ISSUER_MISMATCH", "ISSUER_MISMATCH", "valid globex"]);

    // A bound verifier still hears revocations of its tenant's keys.
    const bound = verifiers[0]!;
    const parent = await platform.issueKey({ tenantId: "acme", name: "short", owner: "agent:short", scopes: ["orders:read"] });
    const token = (await anonymous.deriveToken({ credential: parent.secret })).token;
    tokens.push(token);
    assert.equal(await outcome(bound, token), "valid acme");
    await platform.revokeKey({ keyId: parent.key!.keyId });
    const t0 = performance.now();
    while ((await outcome(bound, token)) !== "REVOKED") {
      assert.ok(performance.now() - t0 < OTHER_PROCESS_BOUND_MS, "the revocation reaches the bound verifier");
      await sleep(20);
    }
    assert.throws(() => new OfflineVerifier({ baseUrl: server.grpcUrl, credential: verifyKey, tenantId: "Not A Tenant" }), /OfflineVerifier: tenantId must be a tenant id/);
  });

  it("sigil tenants create|update take --jwt-issuer, --jwt-audience, --max-derived-token-lifetime; get and list show them", async () => {
    const env = { SIGIL_SERVER: server.grpcUrl, SIGIL_ADMIN_KEY: server.adminKey };
    const created = await runCli(["tenants", "create", "initech", "--jwt-issuer", "https://auth.initech.example", "--jwt-audience", "initech-api", "--max-derived-token-lifetime", "5m"], { env });
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^jwt_issuer\s+https:\/\/auth\.initech\.example$/m);
    assert.match(created.stdout, /^jwt_audience\s+initech-api$/m);
    assert.match(created.stdout, /^policy\s+max_derived_token_lifetime=300s$/m);
    const updated = await runCli(["tenants", "update", "initech", "--jwt-issuer", "", "--jwt-audience", "initech-web"], { env });
    assert.equal(updated.code, 0, updated.stderr);
    const shown = await runCli(["tenants", "get", "initech"], { env });
    assert.match(shown.stdout, /^jwt_issuer\s+- \(default\)$/m);
    assert.match(shown.stdout, /^jwt_audience\s+initech-web$/m);
    assert.match(shown.stdout, /^policy\s+max_derived_token_lifetime=300s$/m, "the policy is kept when only the JWT settings change");
    const listed = await runCli(["tenants", "list"], { env });
    assert.match(listed.stdout, /JWT ISSUER\s+JWT AUDIENCE/);
    assert.match(listed.stdout, /^globex\s.*https:\/\/auth\.globex\.example\s+globex-api\s*$/m);
    assert.match(listed.stdout, /^initech\s.*\s-\s+initech-web\s*$/m);
    const bad = await runCli(["tenants", "update", "initech", "--jwt-issuer", "has space"], { env });
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, "sigil: INVALID_ARGUMENT: tenant.jwt_issuer: must be 1 to 256 printable ASCII characters without spaces\n");
    const badTtl = await runCli(["tenants", "update", "initech", "--max-derived-token-lifetime", "soon"], { env });
    assert.equal(badTtl.code, 2);
    assert.match(badTtl.stderr, /--max-derived-token-lifetime must be a duration/);
  });

  it("no derived token, nor its signature, is in any log line", () => {
    assert.ok(tokens.length > 20);
    for (const token of tokens) {
      const secretPart = token.includes(".") ? token.split(".")[2]! : token.slice(-40);
      const leaked = server.logs.find((l) => l.includes(secretPart));
      assert.equal(leaked, undefined, "a token reached the log");
    }
  });
});
