import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

/**
 * Envoy's ext_authz Check on the gRPC listener, called by Python's grpcio with stubs generated from
 * proto/envoy (a client that shares no code with the server). `/usr/bin/python3` on purpose: a
 * pyenv `python3` earlier on PATH does not see Debian's python3-grpcio / python3-grpc-tools.
 */
const PYTHON = "/usr/bin/python3";
// Compiled to dist/test/e2e/; the client and the protos stay in the source tree.
const CLIENT = fileURLToPath(new URL("../../../test/support/envoy_check_client.py", import.meta.url));
const PROTO_DIR = fileURLToPath(new URL("../../../proto", import.meta.url));

interface HeaderOption {
  header: { key: string; value: string };
  append_action?: string;
}
interface CheckAnswer {
  code: number;
  details?: string;
  response?: {
    status?: { code?: number; message?: string };
    ok_response?: { headers?: HeaderOption[]; headers_to_remove?: string[]; response_headers_to_add?: HeaderOption[] };
    denied_response?: { status?: { code?: string }; headers?: HeaderOption[]; body?: string };
  };
}

/** Runs the checks in one Python process (its start-up and stub generation take most of the time). */
async function envoyChecks(target: string, checks: object[], raw: Buffer[] = []): Promise<{ answers: CheckAnswer[]; raw: CheckAnswer[] }> {
  assert.ok(existsSync(PYTHON), `${PYTHON} not found (apt-get install python3-grpcio python3-grpc-tools)`);
  const child = spawn(PYTHON, ["-I", CLIENT], { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(JSON.stringify({ proto_dir: PROTO_DIR, target, checks, raw: raw.map((b) => b.toString("base64")) }));
  const status = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  assert.equal(status, 0, `the Python ext_authz client failed: ${stderr.slice(-2000)}`);
  return JSON.parse(stdout) as { answers: CheckAnswer[]; raw: CheckAnswer[] };
}

/** A CheckRequest as Envoy sends it, in proto3 JSON. */
function check(headers: Record<string, string>, options: { path?: string; source?: string; contextExtensions?: Record<string, string>; rawHeaders?: boolean } = {}): object {
  const http = options.rawHeaders
    ? { headerMap: { headers: Object.entries(headers).map(([key, value]) => ({ key, rawValue: Buffer.from(value).toString("base64") })) } }
    : { headers };
  return {
    attributes: {
      source: { address: { socketAddress: { address: options.source ?? "192.0.2.10", portValue: 51234 } } },
      destination: { address: { socketAddress: { address: "10.0.0.1", portValue: 8080 } } },
      request: { http: { id: "req-1", method: "GET", path: options.path ?? "/api/orders", host: "api.example.com", scheme: "http", protocol: "HTTP/1.1", ...http } },
      contextExtensions: options.contextExtensions ?? {},
    },
  };
}

const headersOf = (options: HeaderOption[] | undefined) => Object.fromEntries((options ?? []).map((o) => [o.header.key, o.header.value]));

describe("Envoy ext_authz Check on the gRPC listener (grpcio client from proto/envoy)", () => {
  let server: TestServer;
  let admin: SigilClient;
  let target: string;
  before(async () => {
    // Every call logged: allowed checks are at debug by default (a gateway's hot path), and this test reads their lines.
    server = await startTestServer({ SIGIL_AUTH_HEADER: "X-API-Key", SIGIL_TRUSTED_PROXIES: "10.9.0.0/16", SIGIL_ACCESS_LOG: "all" });
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    target = `127.0.0.1:${server.app.grpcPort}`;
  });
  after(() => server.close());

  const issue = async (fields: Record<string, unknown> = {}) => {
    const r = await admin.issueKey({ name: "envoy", owner: "svc:orders", scopes: ["read"], ...fields });
    return { keyId: r.key!.keyId, secret: r.secret };
  };

  it("answers every outcome of item 1: OK with identity headers, 401, 403, 429, 400", async () => {
    const { keyId, secret } = await issue();
    const jwt = await createSigilClient({ baseUrl: server.grpcUrl }).deriveToken({ credential: secret, audience: "orders-api" });
    const { secret: limitedKey } = await issue({ rateLimit: { requests: 1, window: durationFromMs(60_000) } });
    const { secret: networked } = await issue({ allowedNetworks: ["203.0.113.0/24"] });
    const bearer = { authorization: `Bearer ${secret}` };
    const { answers } = await envoyChecks(target, [
      /* 0 */ check(bearer),
      /* 1 */ check({ authorization: `Bearer ${jwt.token}` }, { contextExtensions: { "x-sigil-audience": "orders-api" } }),
      /* 2 */ check({}),
      /* 3 */ check({ authorization: `Bearer ${secret.slice(0, -4)}AAAA` }),
      /* 4 */ check(bearer, { path: "/api/orders?scope=write" }),
      /* 5 */ check(bearer, { contextExtensions: { "x-sigil-required-scopes": "read admin" } }),
      /* 6 */ check({ authorization: `Bearer ${limitedKey}` }),
      /* 7 */ check({ authorization: `Bearer ${limitedKey}` }),
      /* 8 */ check(bearer, { path: "/api/orders?scope=%zz" }),
      /* 9 */ check({ "x-api-key": secret }, { rawHeaders: true }),
      /* 10 */ check({ authorization: `Bearer ${networked}` }, { source: "203.0.113.7" }),
      /* 11 */ check({ authorization: `Bearer ${networked}` }, { source: "198.51.100.7" }),
      /* 12 */ check({ authorization: `Bearer ${networked}`, "x-forwarded-for": "203.0.113.9, 10.9.0.2" }, { source: "10.9.0.1" }),
      /* 13 */ check({ authorization: `Bearer ${networked}`, "x-forwarded-for": "203.0.113.9" }, { source: "198.51.100.7" }),
    ]);
    for (const [i, a] of answers.entries()) assert.equal(a.code, 0, `Check ${i} is answered, not failed: ${a.details}`);
    const ok = answers[0]!.response!;
    assert.equal(ok.status?.code ?? 0, 0);
    const identity = headersOf(ok.ok_response?.headers);
    assert.deepEqual(identity, { "x-sigil-key-id": keyId, "x-sigil-owner": "svc:orders", "x-sigil-scopes": "read", "x-sigil-credential-kind": "api_key", "x-sigil-tenant-id": "default" });
    assert.ok(ok.ok_response!.headers!.every((h) => h.append_action === "OVERWRITE_IF_EXISTS_OR_ADD"), "identity headers overwrite the client's");
    assert.deepEqual(ok.ok_response!.headers_to_remove?.sort(), ["x-sigil-parent-key-id", "x-sigil-token-id"], "the identity headers not set are removed");

    const derived = headersOf(answers[1]!.response!.ok_response?.headers);
    assert.deepEqual([derived["x-sigil-credential-kind"], derived["x-sigil-parent-key-id"], derived["x-sigil-token-id"]], ["jwt", keyId, jwt.tokenId]);

    const denied = (i: number) => {
      const r = answers[i]!.response!;
      assert.equal(r.ok_response, undefined, `Check ${i} is denied`);
      return { grpc: r.status?.code, http: r.denied_response?.status?.code, headers: headersOf(r.denied_response?.headers), body: JSON.parse(r.denied_response?.body ?? "{}") };
    };
    const missing = denied(2);
    assert.deepEqual([missing.grpc, missing.http, missing.headers["www-authenticate"]], [16, "Unauthorized", 'Bearer realm="sigil"']);
    const unknown = denied(3);
    assert.deepEqual([unknown.grpc, unknown.http], [16, "Unauthorized"]);
    assert.match(unknown.body.reason, /^(not_found|malformed)$/, "a changed checksum or an unknown key");
    assert.match(unknown.headers["www-authenticate"]!, /error="invalid_token"/);
    for (const i of [4, 5]) {
      const scope = denied(i);
      assert.deepEqual([scope.grpc, scope.http, scope.headers["x-sigil-reason"]], [7, "Forbidden", "insufficient_scope"], `Check ${i}`);
    }
    assert.ok(answers[6]!.response!.ok_response, "the first call of the limited key passes");
    assert.equal(headersOf(answers[6]!.response!.ok_response!.response_headers_to_add)["ratelimit-policy"], '"rate";q=1;w=60', "the client gets the rate-limit headers");
    const limited = denied(7);
    assert.deepEqual([limited.grpc, limited.http, limited.headers["x-sigil-reason"]], [8, "TooManyRequests", "rate_limited"]);
    assert.ok(Number(limited.headers["retry-after"]) >= 1);
    assert.match(limited.headers["ratelimit"]!, /^"rate";r=0;t=\d+$/);
    const bad = denied(8);
    assert.deepEqual([bad.grpc, bad.http, bad.headers["x-sigil-error"]], [3, "BadRequest", "scope: not valid percent-encoding"]);
    assert.equal(headersOf(answers[9]!.response!.ok_response?.headers)["x-sigil-key-id"], keyId, "SIGIL_AUTH_HEADER, from header_map (encode_raw_headers)");
    assert.ok(answers[10]!.response!.ok_response, "Envoy's source address is the client address");
    assert.equal(denied(11).headers["x-sigil-reason"], "client_network_not_allowed");
    assert.ok(answers[12]!.response!.ok_response, "X-Forwarded-For is believed from a trusted proxy");
    assert.equal(denied(13).headers["x-sigil-reason"], "client_network_not_allowed", "and from no one else");

    const everything = JSON.stringify(answers) + server.logs.join("\n");
    for (const credential of [secret, jwt.token, limitedKey, networked]) assert.ok(!everything.includes(credential), "no answer or log line repeats a credential");
    assert.ok(server.logs.some((l) => l.includes('"envoy.service.auth.v3.Authorization/Check"') && l.includes(`"keyId":"${keyId}"`)), "Check is logged like a call");
  });

  it("answers a request that is not a CheckRequest, or one with too many headers, with INVALID_ARGUMENT", async () => {
    const headers = Object.fromEntries(Array.from({ length: 1100 }, (_, i) => [`x-h${i}`, "v"]));
    const { answers, raw } = await envoyChecks(target, [check(headers)], [Buffer.from([0xff, 0xff, 0xff])]);
    assert.deepEqual(raw.map((r) => r.code), [3]);
    assert.match(raw[0]!.details!, /not a valid envoy.service.auth.v3.CheckRequest/);
    // Too many headers is the gateway's bad input: a 400 for the client, not a failed call.
    assert.equal(answers[0]!.response?.denied_response?.status?.code, "BadRequest");
  });

  it("is served by a verify instance (SIGIL_MODE=verify), with the same answers", async () => {
    const verify = await startTestServer({ SIGIL_MODE: "verify" }, { join: server });
    try {
      const { keyId, secret } = await issue();
      const { answers } = await envoyChecks(`127.0.0.1:${verify.app.grpcPort}`, [check({ authorization: `Bearer ${secret}` }), check({})]);
      assert.equal(headersOf(answers[0]!.response?.ok_response?.headers)["x-sigil-key-id"], keyId);
      assert.equal(answers[1]!.response?.denied_response?.status?.code, "Unauthorized");
    } finally {
      await verify.close();
    }
  });
});
