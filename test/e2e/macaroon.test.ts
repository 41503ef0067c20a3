import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { randomBytes } from "node:crypto";
import { newKeyId } from "../../src/keys/api-key-format.js";
import {
  attenuate,
  expiresCaveat,
  formatIdentifier,
  formatMacaroonToken,
  keyIdCaveat,
  mintMacaroon,
  newTokenId,
  parseMacaroonToken,
  scopeCaveat,
} from "../../src/tokens/macaroon/index.js";
import { CredentialKind, TokenFormat, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

describe("derived macaroons through the server", () => {
  let server: TestServer;
  let admin: SigilClient;
  let anon: SigilClient;
  before(async () => {
    server = await startTestServer();
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    anon = createSigilClient({ baseUrl: server.grpcUrl });
  });
  after(() => server.close());

  async function issue(scopes = ["read", "write", "admin:billing"]) {
    const r = await admin.issueKey({ name: "mac", owner: "agent:m", scopes });
    return { keyId: r.key!.keyId, key: r.secret };
  }

  it("mints a sgm_ macaroon that verifies with its scopes, and holder attenuation narrows it", async () => {
    const { keyId, key } = await issue();
    const d = await anon.deriveToken({ credential: key, format: TokenFormat.MACAROON, scopes: ["read", "write"] });
    assert.match(d.token, /^sgm_[A-Za-z0-9_-]+$/);
    assert.equal(d.format, TokenFormat.MACAROON);
    const v = await anon.verifyKey({ credential: d.token, requiredScopes: ["write"] });
    assert.deepEqual([v.valid, v.kind, v.keyId, v.tokenId], [true, CredentialKind.MACAROON, keyId, d.tokenId]);
    assert.deepEqual([...v.scopes].sort(), ["read", "write"]);

    const narrowed = attenuate(d.token, ["scope read"]);
    const n = await anon.verifyKey({ credential: narrowed, requiredScopes: ["read"] });
    assert.deepEqual([n.valid, n.scopes], [true, ["read"]]);
    const denied = await anon.verifyKey({ credential: narrowed, requiredScopes: ["write"] });
    assert.deepEqual([denied.valid, denied.reason], [false, VerifyReason.INSUFFICIENT_SCOPE]);

    const expired = attenuate(d.token, [expiresCaveat(new Date(Date.now() - 1000))]);
    assert.equal((await anon.verifyKey({ credential: expired })).reason, VerifyReason.EXPIRED);
  });

  it("honours audience caveats and rejects unknown caveats and tampering", async () => {
    const { key } = await issue();
    const d = await anon.deriveToken({ credential: key, format: TokenFormat.MACAROON, audience: "billing-api" });
    assert.equal((await anon.verifyKey({ credential: d.token, audience: "billing-api" })).valid, true);
    assert.equal((await anon.verifyKey({ credential: d.token, audience: "other" })).reason, VerifyReason.AUDIENCE_MISMATCH);
    assert.equal((await anon.verifyKey({ credential: d.token })).reason, VerifyReason.AUDIENCE_MISMATCH);

    // An unknown caveat appended with a correct signature (as another library would) fails closed.
    const m = parseMacaroonToken(d.token);
    const { addFirstPartyCaveat } = await import("../../src/tokens/macaroon/index.js");
    const unknown = formatMacaroonToken(addFirstPartyCaveat(m, "ip 10.0.0.1"));
    assert.equal((await anon.verifyKey({ credential: unknown, audience: "billing-api" })).reason, VerifyReason.UNKNOWN_CAVEAT);

    // Removing a caveat breaks the signature chain.
    const stripped = formatMacaroonToken({ ...m, caveats: m.caveats.slice(0, -1) });
    assert.equal((await anon.verifyKey({ credential: stripped })).reason, VerifyReason.BAD_SIGNATURE);
    assert.equal((await anon.verifyKey({ credential: "sgm_!!!" })).reason, VerifyReason.MALFORMED);
  });

  it("dies with its parent at once", async () => {
    const { keyId, key } = await issue();
    const d = await anon.deriveToken({ credential: key, format: TokenFormat.MACAROON });
    assert.equal((await anon.verifyKey({ credential: d.token })).valid, true);
    await admin.revokeKey({ keyId, reason: "leaked" });
    const v = await anon.verifyKey({ credential: d.token });
    assert.deepEqual([v.valid, v.reason], [false, VerifyReason.REVOKED]);
  });

  it("answers a forged macaroon BAD_SIGNATURE whether its key id exists or not", async () => {
    const { keyId: existing } = await issue();
    const forge = (keyId: string) =>
      formatMacaroonToken(
        mintMacaroon({
          rootKey: randomBytes(32), // not the server's HMAC(server secret, key id)
          identifier: formatIdentifier({ keyId, tokenId: newTokenId() }),
          location: "sigil",
          caveats: [keyIdCaveat(keyId), expiresCaveat(new Date(Date.now() + 60_000)), scopeCaveat(["read"])],
        }),
      );
    const known = await anon.verifyKey({ credential: forge(existing) });
    const unknown = await anon.verifyKey({ credential: forge(newKeyId()) });
    for (const v of [known, unknown]) {
      assert.deepEqual([v.valid, VerifyReason[v.reason], v.kind], [false, "BAD_SIGNATURE", CredentialKind.MACAROON]);
      assert.deepEqual([v.owner, v.scopes, v.tokenId], ["", [], ""], "a forged macaroon learns nothing of the key");
    }
  });
});
