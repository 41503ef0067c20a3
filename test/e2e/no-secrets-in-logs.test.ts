import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ConnectError } from "@connectrpc/connect";
import { createSigilClient } from "../../clients/typescript/src/index.js";
import { TokenFormat } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

describe("no secret, key or token reaches a log line or an error message", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ SIGIL_LOG_LEVEL: "trace" });
  });
  after(() => server.close());

  it("logs a full lifecycle over both listeners, including failures, without any of them", async () => {
    const secrets: string[] = [server.adminKey];
    const serverSecret = readFileSync(path.join(server.dataDir, "server-secret"), "utf8").trim();
    secrets.push(...serverSecret.split(",").map((v) => v.split(":")[1]!));
    const errorMessages: string[] = [];
    const expectError = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (err) {
        errorMessages.push(ConnectError.from(err).message);
        return;
      }
      throw new Error("expected an error");
    };

    for (const [baseUrl, protocol] of [[server.grpcUrl, "grpc"], [server.httpUrl, "connect"], [server.httpUrl, "grpc-web"]] as const) {
      const admin = createSigilClient({ baseUrl, protocol, adminKey: server.adminKey });
      const anon = createSigilClient({ baseUrl, protocol });
      const issued = await admin.issueKey({ name: "logged", owner: "svc:logs", scopes: ["read"], requestId: `log-${protocol}` });
      secrets.push(issued.secret, issued.secret.split("_")[2]!);
      const jwt = await anon.deriveToken({ credential: issued.secret });
      const mac = await anon.deriveToken({ credential: issued.secret, format: TokenFormat.MACAROON });
      secrets.push(jwt.token, mac.token, jwt.token.split(".")[2]!);
      await anon.verifyKey({ credential: issued.secret });
      await anon.verifyKey({ credential: jwt.token });
      await anon.verifyKey({ credential: mac.token });
      await anon.verifyKey({ credential: issued.secret, requiredScopes: ["write"] });
      // The key used as an admin credential (wrong scope) and a tampered secret.
      const asAdmin = createSigilClient({ baseUrl, protocol, adminKey: issued.secret });
      await expectError(asAdmin.listKeys({}));
      const tampered = issued.secret.slice(0, -8) + "AAAAAAAA";
      await expectError(createSigilClient({ baseUrl, protocol, adminKey: tampered }).listKeys({}));
      await expectError(anon.deriveToken({ credential: tampered }));
      await expectError(anon.deriveToken({ credential: jwt.token }));
      await admin.revokeKey({ keyId: issued.key!.keyId, reason: "done" });
      await anon.verifyKey({ credential: issued.secret });
      await anon.verifyKey({ credential: jwt.token });
      await expectError(anon.deriveToken({ credential: issued.secret }));
      await admin.issueKey({ name: "logged", owner: "svc:logs", scopes: ["read"], requestId: `log-${protocol}` });
    }

    const logText = server.logs.join("\n");
    assert.ok(server.logs.filter((l) => l.includes('"msg":"call"')).length >= 40, "one line per call was written");
    assert.ok(server.logs.some((l) => l.includes('"keyId"')), "key ids (public) are logged");
    for (const secret of secrets) {
      assert.ok(secret.length >= 20);
      assert.ok(!logText.includes(secret), `a secret of ${secret.length} chars appeared in the log`);
      for (const message of errorMessages) assert.ok(!message.includes(secret), `a secret appeared in an error: ${message.slice(0, 40)}`);
    }
  });
});
