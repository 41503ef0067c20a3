import assert from "node:assert/strict";
import http, { type IncomingHttpHeaders } from "node:http";
import { after, before, describe, it } from "node:test";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { formatApiKey, newKeyId } from "../../src/keys/api-key-format.js";
import { check, envoyChecks, headersOf } from "../support/envoy-check.js";
import { httpRequest, startNginx, type NginxProcess } from "../support/nginx.js";
import { testDialect } from "../support/postgres.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

const get = (url: string, headers: Record<string, string>) => httpRequest(url, headers);

/**
 * Two routes behind nginx, each checked for one tenant: /acme/ by the `tenant_id` parameter of the
 * check's URL, /beta/ by X-Sigil-Tenant-Id set in the check location (which replaces a client's own).
 * The check's answer comes back to the client with its status (as the README's config does).
 */
function nginxConfig(sigilPort: number, appPort: number, port: number): string {
  const check = (name: string, url: string, extra: string) => `
  location = /_sigil_${name} {
    internal;
    proxy_pass http://127.0.0.1:${sigilPort}${url};
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
    ${extra}
    proxy_intercept_errors on;
    error_page 400 429 = @refused;
  }`;
  const route = (name: string) => `
  location /${name}/ {
    auth_request /_sigil_${name};
    auth_request_set $sigil_status $upstream_status;
    auth_request_set $sigil_reason $upstream_http_x_sigil_reason;
    auth_request_set $sigil_tenant $upstream_http_x_sigil_tenant_id;
    proxy_set_header X-Sigil-Tenant-Id $sigil_tenant;
    add_header X-Sigil-Reason $sigil_reason always;
    error_page 403 = @denied;
    proxy_pass http://127.0.0.1:${appPort};
  }`;
  return `server {
  listen 127.0.0.1:${port};
  ${check("acme", "/v1/authorize?tenant_id=acme", "")}
  ${check("beta", "/v1/authorize", "proxy_set_header X-Sigil-Tenant-Id beta;")}
  ${check("any", "/v1/authorize", "")}
  location @refused { internal; return 403; }
  location @denied {
    internal;
    add_header X-Sigil-Reason $sigil_reason always;
    if ($sigil_status = 400) { return 400; }
    return 403;
  }
  ${route("acme")}
  ${route("beta")}
  ${route("any")}
}`;
}

describe(`gateway checks restricted to one tenant (${testDialect()})`, () => {
  let server: TestServer;
  let admin: SigilClient;
  let nginx: NginxProcess;
  let app: http.Server;
  const seen: IncomingHttpHeaders[] = [];
  const keys: Record<string, string> = {};
  /** A well-formed key of this server's format whose id no key has. */
  let unknownKey = "";

  before(async () => {
    server = await startTestServer();
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    for (const tenantId of ["acme", "beta"]) {
      await admin.createTenant({ tenantId });
      keys[tenantId] = (await admin.issueKey({ tenantId, name: "svc", owner: "svc", scopes: ["read"] })).secret;
    }
    unknownKey = formatApiKey(keys.acme!.split("_")[0]!, newKeyId()).key;
    app = http.createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200);
      res.end("protected");
    });
    await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
    nginx = await startNginx((port) => nginxConfig(server.app.httpPort, (app.address() as { port: number }).port, port));
  });
  after(async () => {
    await nginx?.stop();
    await new Promise((resolve) => app?.close(resolve));
    await server?.close();
  });

  const through = (route: string, credential: string, headers: Record<string, string> = {}) => get(`${nginx.url}/${route}/x`, { authorization: `Bearer ${credential}`, ...headers });

  it("nginx: a route restricted by the check URL's tenant_id, or by X-Sigil-Tenant-Id set in the check location, passes only its tenant's keys", async () => {
    assert.equal((await through("acme", keys.acme!)).status, 200, nginx.errorLog());
    assert.equal(seen.at(-1)!["x-sigil-tenant-id"], "acme", "the protected service learns the tenant");
    assert.equal((await through("beta", keys.beta!)).status, 200);
    assert.equal((await through("any", keys.acme!)).status, 200, "an unrestricted route passes any tenant's key");
    // Another tenant's key: exactly the answer of a key that does not exist.
    const direct = (credential: string, query = "") => get(`${server.httpUrl}/v1/authorize${query}`, { authorization: `Bearer ${credential}` });
    const foreign = await direct(keys.beta!, "?tenant_id=acme");
    const unknown = await direct(unknownKey, "?tenant_id=acme");
    assert.deepEqual([foreign.status, foreign.body, foreign.headers["www-authenticate"]], [unknown.status, unknown.body, unknown.headers["www-authenticate"]]);
    assert.equal(foreign.status, 401);
    assert.equal(JSON.parse(foreign.body).reason, "not_found");
    const viaNginx = await through("acme", keys.beta!);
    assert.deepEqual([viaNginx.status, viaNginx.headers["www-authenticate"]], [401, (await through("acme", unknownKey)).headers["www-authenticate"]]);
    assert.equal((await through("beta", keys.acme!)).status, 401);
  });

  it("nginx: a client's own X-Sigil-Tenant-Id can only narrow an unrestricted check, never lift or switch a configured one", async () => {
    // /beta/'s check location sets the header: a client's value is replaced, so the acme key stays out.
    assert.equal((await through("beta", keys.acme!, { "x-sigil-tenant-id": "acme" })).status, 401);
    // /acme/ restricts by the URL: a client header naming another tenant makes a bad request, never a pass.
    const switched = await through("acme", keys.beta!, { "x-sigil-tenant-id": "beta" });
    assert.equal(switched.status, 400);
    assert.equal((await through("acme", keys.acme!, { "x-sigil-tenant-id": "acme" })).status, 200, "agreeing sources pass");
    // Unrestricted route: the client's header restricts (it can only lock itself out).
    assert.equal((await through("any", keys.acme!, { "x-sigil-tenant-id": "beta" })).status, 401);
    assert.equal((await through("any", keys.acme!, { "x-sigil-tenant-id": "acme" })).status, 200);
    // A bad tenant id is a 400, not a crash, and is never quoted back.
    const bad = await get(`${server.httpUrl}/v1/authorize?tenant_id=${encodeURIComponent(keys.acme!)}`, { authorization: `Bearer ${keys.acme!}` });
    assert.equal(bad.status, 400);
    assert.ok(!bad.body.includes(keys.acme!) && !JSON.stringify(bad.headers).includes(keys.acme!));
    assert.equal((await get(`${server.httpUrl}/v1/authorize?tenant_id=acme&tenant_id=beta`, { authorization: `Bearer ${keys.acme!}` })).status, 400);
  });

  it("Envoy Check: context_extensions x-sigil-tenant-id restricts the route; the client's header cannot lift or switch it", async () => {
    const target = `127.0.0.1:${server.app.grpcPort}`;
    const acmeRoute = { contextExtensions: { "x-sigil-tenant-id": "acme" } };
    const { answers } = await envoyChecks(target, [
      /* 0 */ check({ authorization: `Bearer ${keys.acme!}` }, acmeRoute),
      /* 1 */ check({ authorization: `Bearer ${keys.beta!}` }, acmeRoute),
      /* 2 */ check({ authorization: `Bearer ${unknownKey}` }, acmeRoute),
      /* 3 */ check({ authorization: `Bearer ${keys.beta!}`, "x-sigil-tenant-id": "beta" }, acmeRoute),
      /* 4 */ check({ authorization: `Bearer ${keys.beta!}` }, { ...acmeRoute, path: "/x?tenant_id=beta" }),
      /* 5 */ check({ authorization: `Bearer ${keys.beta!}` }),
      /* 6 */ check({ authorization: `Bearer ${keys.beta!}`, "x-sigil-tenant-id": "acme" }),
    ]);
    for (const [i, a] of answers.entries()) assert.equal(a.code, 0, `Check ${i} is answered: ${a.details}`);
    const ok = (i: number) => answers[i]!.response!.ok_response !== undefined;
    assert.ok(ok(0));
    assert.equal(headersOf(answers[0]!.response!.ok_response!.headers)["x-sigil-tenant-id"], "acme");
    const denial = (i: number) => {
      const r = answers[i]!.response!;
      return { grpc: r.status?.code, http: r.denied_response?.status?.code, headers: headersOf(r.denied_response?.headers), body: r.denied_response?.body };
    };
    assert.deepEqual(denial(1), denial(2), "another tenant's key: the answer of a key that does not exist");
    assert.equal(JSON.parse(denial(1).body!).reason, "not_found");
    for (const i of [3, 4]) assert.deepEqual([denial(i).grpc, denial(i).http], [3, "BadRequest"], `Check ${i}: a client cannot switch the route's tenant`);
    assert.ok(ok(5), "an unrestricted route passes any tenant's key");
    assert.equal(JSON.parse(denial(6).body!).reason, "not_found", "the client's own header narrows only");
  });
});
