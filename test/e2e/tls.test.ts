import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, readFileSync, renameSync, writeFileSync } from "node:fs";

import path from "node:path";
import tls from "node:tls";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { KeyService, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { grpcJsCall } from "../support/grpc-js-call.js";
import { createTestPki, fingerprintOf, type TestPki } from "../support/test-pki.js";
import { startTestServer, type TestServer } from "../support/test-server.js";
import { startSigilProcess } from "../support/sigil-process.js";
import { runCli } from "../support/cli-process.js";

const run = promisify(execFile);
const BUF = path.resolve("node_modules/.bin/buf");
const VERIFY = KeyService.method.verifyKey;

function urls(server: TestServer) {
  return { grpc: `https://127.0.0.1:${server.app.grpcPort}`, http: `https://127.0.0.1:${server.app.httpPort}` };
}

/** The leaf certificate a fresh TLS connection to `port` is served (and whether it completed). */
function servedCertificate(port: number, options: tls.ConnectionOptions = {}): Promise<{ fingerprint: string; alpn: string | false | null; protocol: string | null }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ALPNProtocols: ["h2"], ...options }, () => {
      const result = { fingerprint: socket.getPeerCertificate().fingerprint256, alpn: socket.alpnProtocol, protocol: socket.getProtocol() };
      socket.end();
      resolve(result);
    });
    socket.on("error", reject);
  });
}

async function issueKey(admin: SigilClient): Promise<string> {
  const { secret } = await admin.issueKey({ name: "tls test", owner: "svc:tls", scopes: ["read"] });
  return secret;
}

describe("TLS on both listeners", () => {
  let pki: TestPki;
  let server: TestServer;
  let secret: string;

  before(async () => {
    pki = createTestPki();
    server = await startTestServer({ SIGIL_TLS_CERT_FILE: pki.server.cert, SIGIL_TLS_KEY_FILE: pki.server.key });
    const admin = createSigilClient({ baseUrl: urls(server).grpc, adminKey: server.adminKey, tls: { caFile: pki.caFile } });
    secret = await issueKey(admin);
  });
  after(async () => {
    await server.close();
    pki.remove();
  });

  it("negotiates h2 by ALPN on the gRPC listener, h2 or http/1.1 on the HTTP listener, with TLS 1.2 or later", async () => {
    const grpcTls = await servedCertificate(server.app.grpcPort);
    assert.equal(grpcTls.alpn, "h2");
    assert.equal(grpcTls.fingerprint, await fingerprintOf(pki.server.cert));
    assert.equal((await servedCertificate(server.app.grpcPort, { maxVersion: "TLSv1.2" })).protocol, "TLSv1.2");
    assert.equal((await servedCertificate(server.app.httpPort, { ALPNProtocols: ["http/1.1"] })).alpn, "http/1.1");
    assert.equal((await servedCertificate(server.app.httpPort, { ALPNProtocols: ["h2", "http/1.1"] })).alpn, "h2");
    // TLS 1.1 (allowed on our side only by lowering OpenSSL's security level) is refused by the server.
    await assert.rejects(servedCertificate(server.app.grpcPort, { minVersion: "TLSv1", maxVersion: "TLSv1.1", ciphers: "DEFAULT@SECLEVEL=0" }), (err: NodeJS.ErrnoException) => {
      assert.match(String(err.code), /ALERT_PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL/);
      return true;
    });
  });

  it("serves grpc-js (a plain gRPC client with the CA) on the gRPC listener", async () => {
    const client = new grpc.Client(`127.0.0.1:${server.app.grpcPort}`, grpc.credentials.createSsl(readFileSync(pki.caFile)));
    try {
      const r = await grpcJsCall(client, VERIFY, { credential: secret, requiredScopes: ["read"] });
      assert.ok(r.ok && r.value.valid, JSON.stringify(r));
    } finally {
      client.close();
    }
  });

  it("serves buf curl --cacert on the gRPC listener (reflection and a call)", async () => {
    const { stdout: services } = await run(BUF, ["curl", "--protocol", "grpc", "--cacert", pki.caFile, "--list-services", urls(server).grpc]);
    assert.match(services, /sigil\.v1\.KeyService/);
    const { stdout } = await run(BUF, ["curl", "--protocol", "grpc", "--cacert", pki.caFile, "-d", JSON.stringify({ credential: secret }), `${urls(server).grpc}/sigil.v1.KeyService/VerifyKey`]);
    assert.equal(JSON.parse(stdout).valid, true);
  });

  it("serves curl --cacert with Connect JSON over HTTP/1.1 and HTTP/2 on the HTTP listener", async () => {
    for (const version of ["--http1.1", "--http2"]) {
      const { stdout } = await run("curl", [
        "-sS", version, "--cacert", pki.caFile, "-w", "\n%{http_version}", "-X", "POST", "-H", "content-type: application/json",
        "-d", JSON.stringify({ credential: secret }), `${urls(server).http}/sigil.v1.KeyService/VerifyKey`,
      ]);
      const [body, httpVersion] = stdout.split("\n");
      assert.equal(JSON.parse(body!).valid, true);
      assert.equal(httpVersion, version === "--http2" ? "2" : "1.1");
    }
    const { stdout: health } = await run("curl", ["-sS", "--cacert", pki.caFile, `${urls(server).http}/healthz`]);
    assert.equal((JSON.parse(health) as { status: string }).status, "SERVING");
  });

  it("serves the SDK over https: gRPC, Connect binary and JSON, gRPC-Web, and gRPC through connect-node on the HTTP port", async () => {
    const tlsOptions = { caFile: pki.caFile };
    const clients: Array<[string, SigilClient]> = [
      ["grpc", createSigilClient({ baseUrl: urls(server).grpc, tls: tlsOptions })],
      ["connect", createSigilClient({ baseUrl: urls(server).http, protocol: "connect", tls: tlsOptions })],
      ["connect json", createSigilClient({ baseUrl: urls(server).http, protocol: "connect", useJson: true, tls: tlsOptions })],
      ["grpc-web", createSigilClient({ baseUrl: urls(server).http, protocol: "grpc-web", tls: tlsOptions })],
      ["grpc via connect-node (HTTP/2)", createClient(KeyService, createGrpcTransport({ baseUrl: urls(server).http, nodeOptions: { ca: readFileSync(pki.caFile) } }))],
    ];
    for (const [name, client] of clients) {
      const r = await client.verifyKey({ credential: secret });
      assert.equal(r.reason, VerifyReason.VALID, name);
    }
  });

  it("is refused by a client that does not trust the certificate", async () => {
    const client = createSigilClient({ baseUrl: urls(server).grpc });
    await assert.rejects(client.verifyKey({ credential: secret }), /certificate/i);
  });
});

describe("mTLS: SIGIL_TLS_CLIENT_CA_FILE", () => {
  let pki: TestPki;
  let server: TestServer;
  let secret: string;

  before(async () => {
    pki = createTestPki();
    server = await startTestServer({ SIGIL_TLS_CERT_FILE: pki.server.cert, SIGIL_TLS_KEY_FILE: pki.server.key, SIGIL_TLS_CLIENT_CA_FILE: pki.caFile });
    const admin = createSigilClient({ baseUrl: urls(server).grpc, adminKey: server.adminKey, tls: { caFile: pki.caFile, certFile: pki.client.cert, keyFile: pki.client.key } });
    secret = await issueKey(admin);
  });
  after(async () => {
    await server.close();
    pki.remove();
  });

  it("serves clients with a certificate from that CA on both listeners (SDK, grpc-js, curl)", async () => {
    const tlsOptions = { caFile: pki.caFile, certFile: pki.client.cert, keyFile: pki.client.key };
    for (const client of [
      createSigilClient({ baseUrl: urls(server).grpc, tls: tlsOptions }),
      createSigilClient({ baseUrl: urls(server).http, protocol: "connect", useJson: true, tls: tlsOptions }),
      createSigilClient({ baseUrl: urls(server).http, protocol: "grpc-web", tls: tlsOptions }),
    ]) {
      assert.equal((await client.verifyKey({ credential: secret })).valid, true);
    }
    const grpcJs = new grpc.Client(
      `127.0.0.1:${server.app.grpcPort}`,
      grpc.credentials.createSsl(readFileSync(pki.caFile), readFileSync(pki.client.key), readFileSync(pki.client.cert)),
    );
    const r = await grpcJsCall(grpcJs, VERIFY, { credential: secret });
    grpcJs.close();
    assert.ok(r.ok && r.value.valid);
    const { stdout } = await run("curl", [
      "-sS", "--http2", "--cacert", pki.caFile, "--cert", pki.client.cert, "--key", pki.client.key, "-X", "POST",
      "-H", "content-type: application/json", "-d", JSON.stringify({ credential: secret }), `${urls(server).http}/sigil.v1.KeyService/VerifyKey`,
    ]);
    assert.equal(JSON.parse(stdout).valid, true);
  });

  it("refuses, at the handshake, clients without a certificate or with one from another CA, on both listeners", async () => {
    const callsBefore = server.logs.filter((l) => l.includes('"msg":"call"')).length;
    const wrong = { certFile: pki.otherClient.cert, keyFile: pki.otherClient.key };
    for (const port of [server.app.grpcPort, server.app.httpPort]) {
      for (const clientCert of [undefined, wrong]) {
        const client = createSigilClient({
          baseUrl: `https://127.0.0.1:${port}`,
          protocol: port === server.app.grpcPort ? "grpc" : "connect",
          tls: { caFile: pki.caFile, ...clientCert },
        });
        await assert.rejects(client.verifyKey({ credential: secret }), (err: Error) => {
          assert.match(`${err.message} ${String((err.cause as Error | undefined)?.message)}`, /certificate|alert|socket hang up|ECONNRESET|unknown ca|canceled|CANCEL/i);
          return true;
        });
      }
      // The handshake itself fails: a raw TLS connection without a certificate gets the alert.
      await assert.rejects(
        new Promise((resolve, reject) => {
          const socket = tls.connect({ host: "127.0.0.1", port, ca: readFileSync(pki.caFile), ALPNProtocols: ["h2"] }, () => socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
          socket.on("data", resolve);
          socket.on("error", reject);
          socket.on("end", () => reject(new Error("closed")));
        }),
        /certificate required|alert|closed/i,
      );
    }
    const grpcJs = new grpc.Client(`127.0.0.1:${server.app.grpcPort}`, grpc.credentials.createSsl(readFileSync(pki.caFile)));
    const r = await grpcJsCall(grpcJs, VERIFY, { credential: secret });
    grpcJs.close();
    assert.equal(r.ok ? "OK" : grpc.status[r.code], "UNAVAILABLE");
    assert.equal(server.logs.filter((l) => l.includes('"msg":"call"')).length, callsBefore, "no refused client reached a method");
  });
});

describe("certificate reload", () => {
  let pki: TestPki;
  let server: TestServer;
  let secret: string;
  let certFile: string;
  let keyFile: string;

  before(async () => {
    pki = createTestPki();
    // The server reads copies, so the test can replace them as a certificate manager would.
    certFile = path.join(pki.dir, "served.pem");
    keyFile = path.join(pki.dir, "served.key");
    copyFileSync(pki.server.cert, certFile);
    copyFileSync(pki.server.key, keyFile);
    server = await startTestServer({ SIGIL_TLS_CERT_FILE: certFile, SIGIL_TLS_KEY_FILE: keyFile, SIGIL_TLS_RELOAD_INTERVAL: "1s" });
    secret = await issueKey(createSigilClient({ baseUrl: urls(server).grpc, adminKey: server.adminKey, tls: { caFile: pki.caFile } }));
  });
  after(async () => {
    await server.close();
    pki.remove();
  });

  it("picks up a new certificate without a restart while a client keeps calling; a bad file is logged and the old one kept", async () => {
    const before = await fingerprintOf(pki.server.cert);
    assert.equal((await servedCertificate(server.app.grpcPort)).fingerprint, before);
    // One long-lived connection (grpc-js channel) and a new connection per round (fresh SDK client).
    const longLived = createSigilClient({ baseUrl: urls(server).grpc, tls: { caFile: pki.caFile } });
    let calls = 0;
    const failures: string[] = [];
    let running = true;
    const caller = (async () => {
      while (running) {
        const fresh = createSigilClient({ baseUrl: urls(server).http, protocol: "connect", tls: { caFile: pki.caFile } });
        for (const client of [longLived, fresh]) {
          try {
            if (!(await client.verifyKey({ credential: secret })).valid) failures.push("not valid");
          } catch (err) {
            failures.push((err as Error).message);
          }
          calls++;
        }
      }
    })();
    try {
      const next = pki.issueServer("rotated");
      // A certificate manager writes new files and swaps them in by rename.
      copyFileSync(next.cert, `${certFile}.new`);
      copyFileSync(next.key, `${keyFile}.new`);
      renameSync(`${keyFile}.new`, keyFile);
      renameSync(`${certFile}.new`, certFile);
      const after = await fingerprintOf(next.cert);
      const deadline = Date.now() + 15_000;
      for (const port of [server.app.grpcPort, server.app.httpPort]) {
        while ((await servedCertificate(port)).fingerprint !== after) {
          assert.ok(Date.now() < deadline, "the new certificate was never served");
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.ok(server.logs.some((l) => l.includes("TLS certificate reloaded")));

      // A broken file: logged, and the certificate in use stays.
      writeFileSync(certFile, "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n");
      const until = Date.now() + 15_000;
      while (!server.logs.some((l) => l.includes("new TLS files cannot be used"))) {
        assert.ok(Date.now() < until, "the broken file was not noticed");
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal((await servedCertificate(server.app.grpcPort)).fingerprint, after);
      const failureLine = server.logs.find((l) => l.includes("new TLS files cannot be used"))!;
      assert.match(failureLine, /SIGIL_TLS_CERT_FILE/);
      assert.doesNotMatch(failureLine, /not a certificate/);
    } finally {
      running = false;
      await caller;
    }
    assert.deepEqual(failures, [], `${failures.length} of ${calls} calls failed`);
    assert.ok(calls > 10, `only ${calls} calls made`);
  });
});

describe("sigil serve with TLS (real process)", () => {
  let pki: TestPki;
  before(() => {
    pki = createTestPki();
  });
  after(() => pki.remove());

  it("reloads on SIGHUP with --workers 2 (the supervisor passes it on) and never exits on it", async () => {
    const certFile = path.join(pki.dir, "hup.pem");
    const keyFile = path.join(pki.dir, "hup.key");
    copyFileSync(pki.server.cert, certFile);
    copyFileSync(pki.server.key, keyFile);
    const dataDir = path.join(pki.dir, "data-hup");
    const sigil = startSigilProcess(["--workers", "2", "--data-dir", dataDir, "--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-reload-interval", "1h"]);
    try {
      const [first] = await sigil.waitForListening(2);
      const port = Number(new URL(first!.grpcUrl).port);
      assert.equal((await servedCertificate(port)).fingerprint, await fingerprintOf(pki.server.cert));
      const next = pki.issueServer("hup-rotated");
      copyFileSync(next.cert, certFile);
      copyFileSync(next.key, keyFile);
      sigil.child.kill("SIGHUP");
      const after = await fingerprintOf(next.cert);
      // Connections go round robin to both workers: every one of several must see the new certificate.
      await sigil.waitFor("both workers to reload", () => (sigil.logs().filter((l) => l.msg === "TLS certificate reloaded").length >= 2 ? true : undefined), 15_000);
      for (let i = 0; i < 6; i++) assert.equal((await servedCertificate(port)).fingerprint, after);
      sigil.child.kill("SIGHUP");
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(sigil.child.exitCode, null, "SIGHUP stopped the server");
      assert.equal((await servedCertificate(port)).fingerprint, after);
    } finally {
      const exit = await sigil.stop();
      assert.equal(exit.code, 0);
    }
  });

  it("survives SIGHUP without TLS", async () => {
    const sigil = startSigilProcess(["--workers", "1", "--data-dir", path.join(pki.dir, "data-plain")]);
    try {
      await sigil.waitForListening(1);
      sigil.child.kill("SIGHUP");
      await sigil.waitFor("the SIGHUP log line", () => (sigil.logs().some((l) => l.msg === "TLS reload requested" && l.tls === "off") ? true : undefined));
      assert.equal(sigil.child.exitCode, null);
    } finally {
      await sigil.stop();
    }
  });

  it("stops at start with one line naming the setting of a wrong or unreadable TLS file", async () => {
    const garbage = path.join(pki.dir, "garbage.pem");
    writeFileSync(garbage, "hello\n");
    const cases: Array<[string[], RegExp]> = [
      [["--tls-cert-file", path.join(pki.dir, "missing.pem"), "--tls-key-file", pki.server.key], /^sigil: SIGIL_TLS_CERT_FILE \(--tls-cert-file\) cannot be read: ENOENT/],
      [["--tls-cert-file", garbage, "--tls-key-file", pki.server.key], /^sigil: SIGIL_TLS_CERT_FILE \(--tls-cert-file\) does not hold a PEM certificate/],
      [["--tls-cert-file", pki.server.cert, "--tls-key-file", pki.client.key], /^sigil: SIGIL_TLS_KEY_FILE \(--tls-key-file\) does not hold the private key of the certificate/],
      [["--tls-cert-file", pki.server.cert, "--tls-key-file", garbage], /^sigil: SIGIL_TLS_KEY_FILE \(--tls-key-file\) does not hold a PEM private key/],
      [["--tls-cert-file", pki.server.cert, "--tls-key-file", pki.server.key, "--tls-client-ca-file", garbage], /^sigil: SIGIL_TLS_CLIENT_CA_FILE \(--tls-client-ca-file\) does not hold a PEM certificate/],
      [["--tls-cert-file", pki.server.cert], /^sigil: SIGIL_TLS_KEY_FILE \(--tls-key-file\) must be set with SIGIL_TLS_CERT_FILE/],
      [["--tls-client-ca-file", pki.caFile], /^sigil: SIGIL_TLS_CLIENT_CA_FILE \(--tls-client-ca-file\) needs TLS/],
    ];
    for (const [args, message] of cases) {
      const dataDir = path.join(pki.dir, `data-${Math.random().toString(36).slice(2)}`);
      const r = await runCli(["serve", "--workers", "1", "--data-dir", dataDir, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", ...args]);
      const errorLines = r.stderr.split("\n").filter((l) => l.length > 0);
      assert.equal(errorLines.length, 1, r.stderr);
      assert.match(errorLines[0]!, message);
      assert.notEqual(r.code, 0);
      assert.doesNotMatch(r.stdout, /created the first admin key/, "nothing is written when TLS is wrong");
    }
  });
});


