import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import type { SigilClient } from "../../clients/typescript/src/index.js";
import { errorOf } from "../support/call-outcome.js";
import { protocolClients } from "../support/protocol-clients.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

/**
 * Characters that rewrite what a terminal or log viewer shows: ESC, DEL, C1 CSI, the bidi controls
 * (right-to-left override, isolates, Arabic letter mark, RLM), and the line separator.
 */
const UNSAFE = ["\u001b", "\u007f", "\u009b", "\u202e", "\u2066", "\u061c", "\u200f", "\u2028"];
/** Text around the character: the error must never quote it. */
const MARKER = "quoted-back";

describe("text fields refuse control and bidirectional-formatting characters, on every protocol", () => {
  let server: TestServer;
  let clients: Array<[string, SigilClient]>;
  let keyId: string;
  let holderKey: string;
  let holderKeyId: string;
  before(async () => {
    server = await startTestServer();
    clients = protocolClients(server);
    const admin = clients[0]![1];
    keyId = (await admin.issueKey({ name: "target", owner: "svc:text", scopes: ["read"] })).key!.keyId;
    const holder = await admin.issueKey({ name: "holder", owner: "svc:text", scopes: ["read"] });
    holderKey = holder.secret;
    holderKeyId = holder.key!.keyId;
  });
  after(() => server.close());

  /** Each field, the call that sets it to `text`, and the field name the error must start with. */
  const fields: Array<[string, (c: SigilClient, text: string) => Promise<unknown>, RegExp]> = [
    ["IssueKey name", (c, t) => c.issueKey({ name: t, owner: "o" }), /^name: /],
    ["IssueKey metadata value", (c, t) => c.issueKey({ name: "n", owner: "o", metadata: { team: t } }), /^metadata\["team"\]: /],
    ["IssueKey request_id", (c, t) => c.issueKey({ name: "n", owner: "o", requestId: t }), /^request_id: /],
    ["IssueKey owner", (c, t) => c.issueKey({ name: "n", owner: t }), /^owner: /],
    ["IssueKey scopes", (c, t) => c.issueKey({ name: "n", owner: "o", scopes: [t] }), /^scopes\[0\]: /],
    ["UpdateKey name", (c, t) => c.updateKey({ key: { keyId, name: t }, updateMask: { paths: ["name"] } }), /^key\.name: /],
    ["UpdateKey metadata value", (c, t) => c.updateKey({ key: { keyId, metadata: { team: t } }, updateMask: { paths: ["metadata"] } }), /^key\.metadata\["team"\]: /],
    ["RevokeKey reason", (c, t) => c.revokeKey({ keyId, reason: t }), /^reason: /],
    ["RevokeKey reason of a self-revocation", (c, t) => c.revokeKey({ keyId: holderKeyId, reason: t }, { headers: { authorization: `Bearer ${holderKey}` } }), /^reason: /],
    ["ImportKey name", (c, t) => c.importKey({ keyMaterial: { case: "rawKey", value: "legacy-key-0001" }, owner: "o", name: t }), /^name: /],
    ["ImportKey metadata value", (c, t) => c.importKey({ keyMaterial: { case: "rawKey", value: "legacy-key-0002" }, owner: "o", name: "n", metadata: { m: t } }), /^metadata\["m"\]: /],
    ["VerifyKey audience", (c, t) => c.verifyKey({ credential: holderKey, audience: t }), /^audience: /],
    ["BatchVerifyKeys audience", (c, t) => c.batchVerifyKeys({ requests: [{ credential: holderKey, audience: t }] }), /^requests\[0\]\.audience: /],
    ["DeriveToken audience", (c, t) => c.deriveToken({ credential: holderKey, audience: t }), /^audience: /],
    ["ListKeys owner", (c, t) => c.listKeys({ owner: t }), /^owner: /],
  ];

  for (const [field, call, name] of fields) {
    it(field, async () => {
      const keysBefore = (await clients[0]![1].listKeys({ pageSize: 1000 })).keys.length;
      for (const [protocol, client] of clients) {
        for (const c of UNSAFE) {
          const what = `${protocol}, U+${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
          const err = await errorOf(call(client, `${MARKER}${c}x`));
          assert.equal(err.code, Code.InvalidArgument, `${what}: ${err.rawMessage}`);
          assert.match(err.rawMessage, name, what);
          assert.ok(!err.rawMessage.includes(MARKER), `${what}: the text is not quoted back: ${err.rawMessage}`);
        }
      }
      assert.equal((await clients[0]![1].listKeys({ pageSize: 1000 })).keys.length, keysBefore, "no row was written");
    });
  }

  it("BatchImportKeys fails the item, naming it", async () => {
    for (const [protocol, client] of clients) {
      const { results } = await client.batchImportKeys({
        requests: [{ keyMaterial: { case: "rawKey", value: `legacy-batch-${protocol.replace(" ", "-")}` }, owner: "o", name: `${MARKER}\u202e` }],
      });
      const result = results[0]!.result;
      assert.equal(result.case, "error", protocol);
      assert.equal(result.value.code, Code.InvalidArgument, protocol);
      assert.match(result.value.message, /^requests\[0\]\.name: must not contain control or bidirectional-formatting characters \(U\+202E/, protocol);
    }
  });

  it("names the character and its position, and still takes ordinary Unicode", async () => {
    const admin = clients[0]![1];
    const err = await errorOf(admin.issueKey({ name: "ab\u202ecd", owner: "o" }));
    assert.equal(err.rawMessage, "name: must not contain control or bidirectional-formatting characters (U+202E at position 2)");
    const fine = await admin.issueKey({ name: "Zürich – 東京 🚀 مرحبا", owner: "o", metadata: { note: "tab-free, ünïcödé" } });
    assert.equal(fine.key!.name, "Zürich – 東京 🚀 مرحبا");
    await admin.revokeKey({ keyId: fine.key!.keyId, reason: "ordinary text: «ok»" });
  });

  it("does not quote an update_mask path that is not a field name", async () => {
    const err = await errorOf(clients[0]![1].updateKey({ key: { keyId }, updateMask: { paths: [`${MARKER}\u001b[2J`] } }));
    assert.equal(err.code, Code.InvalidArgument);
    assert.match(err.rawMessage, /^update_mask: cannot be updated; updatable fields: name, /);
    const named = await errorOf(clients[0]![1].updateKey({ key: { keyId }, updateMask: { paths: ["owner"] } }));
    assert.match(named.rawMessage, /^update_mask: "owner" cannot be updated/);
  });
});
