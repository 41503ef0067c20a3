import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createSigilClient, OfflineVerifier, TokenFormat } from "../../clients/typescript/src/index.js";
import { runCli, type CliRun } from "../support/cli-process.js";
import { createTestPki, type TestPki } from "../support/test-pki.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

/** Exactly one line on stderr, matching `message`, and no raw OpenSSL or Node internals. */
function assertOneLine(r: CliRun, code: number, message: RegExp): void {
  const lines = r.stderr.split("\n").filter((l) => l.length > 0);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, message);
  assert.doesNotMatch(lines[0]!, /SSL routines|openssl|\.c:\d+|Protocol error|ERR_/);
  assert.equal(r.code, code, r.stderr);
}

describe("clients speak TLS: the sigil CLI, createSigilClient and OfflineVerifier (issue 10 item 2)", () => {
  let pki: TestPki;
  let plain: TestServer;
  let secure: TestServer;
  let mutual: TestServer;
  let secret: string;
  let mutualSecret: string;
  const https = (s: TestServer, port: "grpc" | "http" = "grpc") => `https://127.0.0.1:${port === "grpc" ? s.app.grpcPort : s.app.httpPort}`;

  before(async () => {
    pki = createTestPki();
    plain = await startTestServer();
    secure = await startTestServer({ SIGIL_TLS_CERT_FILE: pki.server.cert, SIGIL_TLS_KEY_FILE: pki.server.key });
    mutual = await startTestServer({ SIGIL_TLS_CERT_FILE: pki.server.cert, SIGIL_TLS_KEY_FILE: pki.server.key, SIGIL_TLS_CLIENT_CA_FILE: pki.caFile });
    const tls = { caFile: pki.caFile };
    secret = (await createSigilClient({ baseUrl: https(secure), adminKey: secure.adminKey, tls }).issueKey({ name: "cli", owner: "svc:cli", scopes: ["read"] })).secret;
    mutualSecret = (
      await createSigilClient({ baseUrl: https(mutual), adminKey: mutual.adminKey, tls: { ...tls, certFile: pki.client.cert, keyFile: pki.client.key } }).issueKey({ name: "cli", owner: "svc:cli", scopes: ["read"] })
    ).secret;
  });
  after(async () => {
    await Promise.all([plain.close(), secure.close(), mutual.close()]);
    pki.remove();
  });

  it("sigil keys issue and sigil verify over https with --ca-file or SIGIL_CA_FILE", async () => {
    const issued = await runCli(["keys", "issue", "--name", "over tls", "--owner", "svc:tls", "--json", "--server", https(secure), "--ca-file", pki.caFile], {
      env: { SIGIL_ADMIN_KEY: secure.adminKey },
    });
    assert.equal(issued.code, 0, issued.stderr);
    const key = (JSON.parse(issued.stdout.split("\n")[0]!) as { secret: string }).secret;
    const verified = await runCli(["verify", "-"], { stdin: key, env: { SIGIL_SERVER: https(secure), SIGIL_CA_FILE: pki.caFile } });
    assert.equal(verified.code, 0, verified.stderr);
  });

  it("sigil verify with a client certificate against an mTLS server (flags and variables); without or with a wrong one, one clear line", async () => {
    const base = ["verify", "-", "--server", https(mutual), "--ca-file", pki.caFile];
    const withFlags = await runCli([...base, "--client-cert-file", pki.client.cert, "--client-key-file", pki.client.key], { stdin: mutualSecret });
    assert.equal(withFlags.code, 0, withFlags.stderr);
    const withEnv = await runCli(base, { stdin: mutualSecret, env: { SIGIL_CLIENT_CERT_FILE: pki.client.cert, SIGIL_CLIENT_KEY_FILE: pki.client.key } });
    assert.equal(withEnv.code, 0, withEnv.stderr);
    assertOneLine(await runCli(base, { stdin: mutualSecret }), 1, /^sigil: the server (requires a client certificate|closed the TLS connection without answering: if it requires client certificates)/);
    assertOneLine(
      await runCli([...base, "--client-cert-file", pki.otherClient.cert, "--client-key-file", pki.otherClient.key], { stdin: mutualSecret }),
      1,
      /^sigil: the server (refused the client certificate|closed the TLS connection without answering: if it requires client certificates)/,
    );
  });

  it("turns each TLS or protocol mismatch into one line that says what to change", async () => {
    const verify = (server: string, extra: string[] = []) => runCli(["verify", "-", "--server", server, ...extra], { stdin: secret });
    assertOneLine(await verify(`https://127.0.0.1:${plain.app.grpcPort}`, ["--ca-file", pki.caFile]), 1, /^sigil: the server did not answer TLS: it serves plaintext on that port/);
    assertOneLine(await verify(`http://127.0.0.1:${secure.app.grpcPort}`), 1, /^sigil: the server closed the connection without answering: if it uses TLS, use https:\/\//);
    assertOneLine(await verify(`http://127.0.0.1:${plain.app.httpPort}`), 1, /^sigil: the server did not answer gRPC over HTTP\/2: --server must be the gRPC listener/);
    assertOneLine(await verify(https(secure)), 1, /^sigil: the server's TLS certificate is not trusted \(UNABLE_TO_GET_ISSUER_CERT_LOCALLY\): pass the CA that signed it with --ca-file/);
    const selfSigned = pki.selfSigned("stranger");
    assertOneLine(await verify(https(secure), ["--ca-file", selfSigned.cert]), 1, /^sigil: the server's TLS certificate is not trusted/);
  });

  it("rejects TLS options that cannot apply", async () => {
    assertOneLine(await runCli(["verify", "-", "--server", plain.grpcUrl, "--ca-file", pki.caFile], { stdin: secret }), 2, /^sigil: --ca-file needs an https:\/\/ --server/);
    assertOneLine(await runCli(["verify", "-", "--server", https(secure), "--client-cert-file", pki.client.cert], { stdin: secret }), 2, /--client-cert-file and --client-key-file go together/);
    assertOneLine(await runCli(["verify", "-", "--server", https(secure), "--ca-file", "/nonexistent/ca.pem"], { stdin: secret }), 1, /^sigil: cannot read --ca-file/);
  });

  it("createSigilClient: https with a CA and mTLS, on both listeners; TLS options on http:// are a TypeError", async () => {
    const tls = { caFile: pki.caFile, certFile: pki.client.cert, keyFile: pki.client.key };
    assert.equal((await createSigilClient({ baseUrl: https(mutual), tls }).verifyKey({ credential: mutualSecret })).valid, true);
    assert.equal((await createSigilClient({ baseUrl: https(mutual, "http"), protocol: "connect", tls }).verifyKey({ credential: mutualSecret })).valid, true);
    assert.throws(() => createSigilClient({ baseUrl: plain.grpcUrl, tls: { caFile: pki.caFile } }), /tls options need an https:\/\/ baseUrl/);
    assert.throws(() => createSigilClient({ baseUrl: https(secure), tls: { certFile: pki.client.cert } }), /needs its key/);
  });

  it("OfflineVerifier follows revocations over TLS and mTLS", async () => {
    for (const [server, tls, key] of [
      [secure, { caFile: pki.caFile }, secret],
      [mutual, { caFile: pki.caFile, certFile: pki.client.cert, keyFile: pki.client.key }, mutualSecret],
    ] as const) {
      const admin = createSigilClient({ baseUrl: https(server), adminKey: server.adminKey, tls });
      const verifyKey = (await admin.issueKey({ name: "verifier", owner: "svc:verifier", scopes: ["sigil:verify"] })).secret;
      const verifier = new OfflineVerifier({ baseUrl: https(server), credential: verifyKey, tls });
      try {
        await verifier.start({ timeoutMs: 10_000 });
        const { token } = await admin.deriveToken({ credential: key, format: TokenFormat.JWT });
        const result = await verifier.verify(token);
        assert.equal(result.valid, true, JSON.stringify(result));
      } finally {
        await verifier.close();
      }
    }
  });
});
