import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http, { type IncomingHttpHeaders } from "node:http";
import http2 from "node:http2";
import https from "node:https";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { TokenFormat } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { httpRequest, startNginx, type HttpAnswer, type NginxProcess } from "../support/nginx.js";
import { createTestPki, type TestPki } from "../support/test-pki.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

const README = fileURLToPath(new URL("../../../README.md", import.meta.url));
const AUDIENCE = "https://api.example.com";

/** The README's nginx config (the ```nginx block of "#### nginx"), with its addresses replaced by the test's. */
function readmeNginxConfig(sigilPort: number, appPort: number, port: number): string {
  const text = readFileSync(README, "utf8");
  const start = text.indexOf("#### nginx");
  assert.ok(start >= 0, 'README has a "#### nginx" subsection');
  const block = /```nginx\n([\s\S]*?)```/.exec(text.slice(start))?.[1];
  assert.ok(block, "the nginx subsection has an nginx block");
  const replaced = block
    .replace("server 127.0.0.1:4421;", `server 127.0.0.1:${sigilPort};`)
    .replace("server 127.0.0.1:3000;", `server 127.0.0.1:${appPort};`)
    .replace("listen 8080;", `listen 127.0.0.1:${port};`);
  for (const piece of [`:${sigilPort};`, `:${appPort};`, `:${port};`]) assert.ok(replaced.includes(piece), `README block has the address replaced by ${piece}`);
  return replaced;
}

/** One request to nginx, from `localAddress` (a loopback address of its own, as a distinct client). */
const request = (url: string, headers: Record<string, string>, localAddress = "127.0.0.2") => httpRequest(url, headers, localAddress);

describe("forward auth behind a real nginx (auth_request, the README's config)", () => {
  let server: TestServer;
  let admin: SigilClient;
  let anon: SigilClient;
  let nginx: NginxProcess;
  let app: http.Server;
  /** What the protected service received, in order. */
  const seen: IncomingHttpHeaders[] = [];
  let api: string;

  before(async () => {
    // nginx connects to Sigil from 127.0.0.1: its X-Forwarded-For is believed; the clients are 127.0.0.2 and .3.
    // Every call logged: allowed checks are at debug by default (a gateway's hot path), and a test below reads their lines.
    server = await startTestServer({ SIGIL_TRUSTED_PROXIES: "127.0.0.1/32", SIGIL_ACCESS_LOG: "all" });
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    anon = createSigilClient({ baseUrl: server.grpcUrl });
    app = http.createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("protected");
    });
    await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
    const appPort = (app.address() as { port: number }).port;
    nginx = await startNginx((port) => readmeNginxConfig(server.app.httpPort, appPort, port));
    api = `${nginx.url}/api/orders`;
  });
  after(async () => {
    await nginx?.stop();
    await new Promise((resolve) => app?.close(resolve));
    await server?.close();
  });

  const issue = async (fields: Record<string, unknown> = {}) => {
    const r = await admin.issueKey({ name: "gateway", owner: "svc:orders", scopes: ["read", "orders"], ...fields });
    return { keyId: r.key!.keyId, secret: r.secret };
  };
  /** A request through nginx that must not reach the service: the answer, with the service's count unchanged. */
  const refused = async (headers: Record<string, string>, localAddress?: string) => {
    const before = seen.length;
    const answer = await request(api, headers, localAddress);
    assert.equal(seen.length, before, `the service is not reached on a ${answer.status}`);
    return answer;
  };
  const noEcho = (answer: HttpAnswer, secret: string) => {
    const everything = JSON.stringify(answer.headers) + answer.body;
    assert.ok(!everything.includes(secret), "the answer never repeats the credential");
  };

  it("passes a valid API key with the identity headers, replacing ones the client forged", async () => {
    const { keyId, secret } = await issue();
    const before = seen.length;
    const answer = await request(api, {
      authorization: `Bearer ${secret}`,
      "x-sigil-key-id": "forged",
      "x-sigil-parent-key-id": "forged",
      "x-sigil-owner": "admin",
    });
    assert.equal(answer.status, 200, nginx.errorLog());
    assert.equal(answer.body, "protected");
    assert.equal(seen.length, before + 1);
    const got = seen.at(-1)!;
    assert.equal(got["x-sigil-key-id"], keyId);
    assert.equal(got["x-sigil-owner"], "svc:orders");
    assert.equal(got["x-sigil-scopes"], "read orders");
    assert.equal(got["x-sigil-credential-kind"], "api_key");
    assert.equal(got["x-sigil-parent-key-id"], undefined, "a forged header is dropped, not passed on");
    assert.equal(got["x-sigil-token-id"], undefined);
    assert.equal(got["x-sigil-tenant-id"], "default", "the service learns the key's tenant");
    noEcho(answer, secret);
    // A client's own X-Sigil-Tenant-Id reaches the check, where it restricts (never widens) it: another tenant locks itself out.
    const forged = await request(api, { authorization: `Bearer ${secret}`, "x-sigil-tenant-id": "acme" });
    assert.equal(forged.status, 401);
    assert.equal(seen.length, before + 1, "the service is not reached");
  });

  it("passes derived JWTs and macaroons with the parent key id, and checks the audience", async () => {
    const { keyId, secret } = await issue();
    const jwt = await anon.deriveToken({ credential: secret, audience: AUDIENCE });
    const ok = await request(api, { authorization: `Bearer ${jwt.token}` });
    assert.equal(ok.status, 200);
    const got = seen.at(-1)!;
    assert.deepEqual([got["x-sigil-credential-kind"], got["x-sigil-parent-key-id"], got["x-sigil-key-id"]], ["jwt", keyId, keyId]);
    assert.equal(got["x-sigil-token-id"], jwt.tokenId);

    const macaroon = await anon.deriveToken({ credential: secret, format: TokenFormat.MACAROON });
    assert.equal((await request(api, { authorization: `Bearer ${macaroon.token}` })).status, 200);
    assert.deepEqual([seen.at(-1)!["x-sigil-credential-kind"], seen.at(-1)!["x-sigil-parent-key-id"]], ["macaroon", keyId]);

    const elsewhere = await anon.deriveToken({ credential: secret, audience: "https://other.example.com" });
    const wrong = await refused({ authorization: `Bearer ${elsewhere.token}` });
    assert.equal(wrong.status, 401);
    assert.match(String(wrong.headers["www-authenticate"]), /error="invalid_token"/);
    assert.equal(wrong.headers["x-sigil-reason"], "audience_mismatch");
    noEcho(wrong, elsewhere.token);
  });

  it("answers 401 for a missing, unknown or revoked credential, with the RFC 6750 challenge", async () => {
    const missing = await refused({});
    assert.equal(missing.status, 401);
    assert.equal(missing.headers["www-authenticate"], 'Bearer realm="sigil"');
    const basic = await refused({ authorization: "Basic dXNlcjpwYXNz" });
    assert.equal(basic.status, 401);

    const { keyId, secret } = await issue();
    const unknown = `${secret.slice(0, -4)}AAAA`;
    const bad = await refused({ authorization: `Bearer ${unknown}` });
    assert.equal(bad.status, 401);
    assert.match(String(bad.headers["www-authenticate"]), /^Bearer realm="sigil", error="invalid_token"/);
    noEcho(bad, unknown);

    await admin.revokeKey({ keyId, reason: "gateway test" });
    const revoked = await refused({ authorization: `Bearer ${secret}` });
    assert.equal(revoked.status, 401);
    assert.equal(revoked.headers["x-sigil-reason"], "revoked");
    noEcho(revoked, secret);
  });

  it("answers 403 for a missing scope (query parameter or header) and for a client outside the key's networks", async () => {
    const { secret: writer } = await issue({ scopes: ["write"] });
    const noRead = await refused({ authorization: `Bearer ${writer}` });
    assert.equal(noRead.status, 403, "the check's ?scope=read is required");
    assert.equal(noRead.headers["x-sigil-reason"], "insufficient_scope");

    const { secret: reader } = await issue();
    const noAdmin = await refused({ authorization: `Bearer ${reader}`, "x-sigil-required-scopes": "read admin" });
    assert.equal(noAdmin.status, 403, "scopes the client adds are required too");

    const { secret: networked } = await issue({ allowedNetworks: ["127.0.0.2/32"] });
    assert.equal((await request(api, { authorization: `Bearer ${networked}` }, "127.0.0.2")).status, 200, "the client address comes from nginx's X-Forwarded-For");
    const outside = await refused({ authorization: `Bearer ${networked}`, "x-forwarded-for": "127.0.0.2" }, "127.0.0.3");
    assert.equal(outside.status, 403, "a forwarding header the client wrote itself proves nothing");
    assert.equal(outside.headers["x-sigil-reason"], "client_network_not_allowed");
  });

  it("answers 429 with Retry-After and the RateLimit headers when rate-limited or out of credits", async () => {
    const { secret } = await issue({ rateLimit: { requests: 2, window: durationFromMs(60_000) } });
    for (const remaining of [1, 0]) {
      const ok = await request(api, { authorization: `Bearer ${secret}` });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers["ratelimit-policy"], '"rate";q=2;w=60');
      assert.match(String(ok.headers.ratelimit), new RegExp(`^"rate";r=${remaining};t=\\d+$`));
    }
    const limited = await refused({ authorization: `Bearer ${secret}` });
    assert.equal(limited.status, 429, nginx.errorLog());
    const retry = Number(limited.headers["retry-after"]);
    assert.ok(retry >= 1 && retry <= 30, `Retry-After is when one request comes back (${retry})`);
    assert.equal(limited.headers["ratelimit-policy"], '"rate";q=2;w=60');
    assert.match(String(limited.headers.ratelimit), /^"rate";r=0;t=\d+$/);
    assert.equal(limited.headers["x-sigil-reason"], "rate_limited");

    const { secret: metered } = await issue({ credits: { remaining: 1n, refillAmount: 1n, refillInterval: durationFromMs(3_600_000) } });
    assert.equal((await request(api, { authorization: `Bearer ${metered}` })).status, 200);
    const spent = await refused({ authorization: `Bearer ${metered}` });
    assert.equal(spent.status, 429);
    assert.equal(spent.headers["x-sigil-reason"], "usage_exhausted");
    assert.ok(Number(spent.headers["retry-after"]) > 3000, "credits come back at the next refill");
    assert.equal(spent.headers["ratelimit-policy"], '"credits";q=1;w=3600');
    assert.match(String(spent.headers.ratelimit), /^"credits";r=0;t=\d+$/);
  });

  it("answers 400 for malformed input (nginx gives the check's status back), and logs no credential", async () => {
    const { secret } = await issue();
    const scopes = Array.from({ length: 65 }, (_, i) => `s${i}`).join(" ");
    const bad = await refused({ authorization: `Bearer ${secret}`, "x-sigil-required-scopes": scopes });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers["x-sigil-reason"], "invalid_request");
    const lines = server.logs.filter((l) => l.includes('"/v1/authorize"'));
    assert.ok(lines.length >= 10, "every check is logged like a call");
    assert.ok(lines.some((l) => l.includes('"code":"OK"')) && lines.some((l) => l.includes('"code":"UNAUTHENTICATED"')), lines[0]);
    for (const line of server.logs) assert.ok(!line.includes(secret), "no log line holds a credential");
  });
});

describe("/v1/authorize without a proxy", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it("answers any method at once without reading a body, and closes a connection that carried one", async () => {
    const admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    const { secret } = await admin.issueKey({ name: "direct", owner: "svc:direct", scopes: ["read"] });
    // A body that is never sent in full: the answer comes anyway.
    const answer = await new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
      const req = http.request(`${server.httpUrl}/v1/authorize/orders?scope=read`, {
        method: "POST",
        headers: { authorization: `Bearer ${secret}`, "content-length": "1000000" },
        agent: false,
      });
      req.on("response", (res) => {
        res.resume();
        resolve({ status: res.statusCode!, connection: res.headers.connection });
        req.destroy();
      });
      req.on("error", reject);
      req.write("x".repeat(1000));
    });
    assert.deepEqual(answer, { status: 200, connection: "close" });
    for (const method of ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]) {
      const res = await fetch(`${server.httpUrl}/v1/authorize`, { method, headers: { authorization: `Bearer ${secret}` } });
      assert.equal(res.status, 200, method);
    }
    // No trusted proxies: a forwarding header is ignored, so a malformed one is no error.
    const res = await fetch(`${server.httpUrl}/v1/authorize`, { headers: { authorization: `Bearer ${secret}`, "x-forwarded-for": "not an address" } });
    assert.equal(res.status, 200);
  });
});

describe("/v1/authorize over TLS (HTTP/2 and HTTP/1.1 on the one port)", () => {
  let pki: TestPki;
  let server: TestServer;
  before(async () => {
    pki = createTestPki();
    server = await startTestServer({ SIGIL_TLS_CERT_FILE: pki.server.cert, SIGIL_TLS_KEY_FILE: pki.server.key });
  });
  after(async () => {
    await server.close();
    pki.remove();
  });

  it("answers an HTTP/2 request (with a body it never reads) with the identity headers", async () => {
    const ca = readFileSync(pki.caFile);
    const admin = createSigilClient({ baseUrl: `https://127.0.0.1:${server.app.grpcPort}`, adminKey: server.adminKey, tls: { caFile: pki.caFile } });
    const { key, secret } = await admin.issueKey({ name: "tls", owner: "svc:tls", scopes: ["read"] });
    const session = http2.connect(`https://127.0.0.1:${server.app.httpPort}`, { ca });
    try {
      const ask = (headers: http2.OutgoingHttpHeaders, body?: string) =>
        new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
          const stream = session.request({ ":path": "/v1/authorize?scope=read", ...headers });
          stream.on("response", (h) => {
            stream.resume();
            resolve(h);
          });
          stream.on("error", reject);
          if (body === undefined) stream.end();
          else stream.write(body);
        });
      const ok = await ask({ authorization: `Bearer ${secret}` });
      assert.deepEqual([ok[":status"], ok["x-sigil-key-id"], ok["x-sigil-owner"]], [200, key!.keyId, "svc:tls"]);
      const posted = await ask({ ":method": "POST", authorization: `Bearer ${secret}`, "content-length": "100000" }, "partial");
      assert.equal(posted[":status"], 200);
      const denied = await ask({});
      assert.deepEqual([denied[":status"], denied["www-authenticate"]], [401, 'Bearer realm="sigil"']);
    } finally {
      session.close();
    }
    const viaHttp1 = await new Promise<number>((resolve, reject) => {
      const req = https.request(`https://127.0.0.1:${server.app.httpPort}/v1/authorize`, { ca, headers: { authorization: `Bearer ${secret}` }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on("error", reject);
      req.end();
    });
    assert.equal(viaHttp1, 200);
  });
});
