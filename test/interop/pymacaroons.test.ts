import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import {
  attenuate,
  audCaveat,
  decodeMacaroonBase64,
  encodeMacaroon,
  evaluateCaveats,
  expiresCaveat,
  formatIdentifier,
  formatMacaroonToken,
  keyIdCaveat,
  MACAROON_TOKEN_PREFIX,
  mintMacaroon,
  newTokenId,
  parseIdentifier,
  parseMacaroonToken,
  scopeCaveat,
  verifyMacaroonSignature,
} from "../../src/tokens/macaroon/index.js";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { createSigilClient } from "../../clients/typescript/src/index.js";
import { TokenFormat, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { startTestServer } from "../support/test-server.js";

/**
 * Interoperability with Debian's python3-pymacaroons, the macaroon library another team is most
 * likely to hold our tokens with. `/usr/bin/python3` on purpose: a pyenv `python3` earlier on
 * PATH does not see Debian's packages. `-I` keeps PYTHON* variables and user site-packages out.
 */
const PYTHON = "/usr/bin/python3";
// Compiled to dist/test/interop/; the helper stays in the source tree.
const HELPER = fileURLToPath(new URL("../../../test/interop/pymacaroons_helper.py", import.meta.url));

function pymacaroonsMissing(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} not found (apt-get install python3-pymacaroons)`;
  const probe = spawnSync(PYTHON, ["-I", "-c", "import pymacaroons"], { encoding: "utf8", timeout: 30_000 });
  if (probe.status !== 0) return `pymacaroons not importable by ${PYTHON} (apt-get install python3-pymacaroons)`;
  return undefined;
}
const missing = pymacaroonsMissing();

// The helper answers loosely typed JSON; each test asserts the fields it uses.
function python(request: Record<string, unknown>): any {
  assert.ok(existsSync(HELPER), `helper not found at ${HELPER}`);
  const run = spawnSync(PYTHON, ["-I", HELPER], { input: JSON.stringify(request), encoding: "utf8", timeout: 30_000 });
  assert.equal(run.status, 0, `pymacaroons helper failed (${request["op"]}): ${run.stderr}`);
  return JSON.parse(run.stdout);
}

/** Skips (with the reason) when pymacaroons is not installed; true when the test should run. */
function needsPymacaroons(t: TestContext): boolean {
  if (missing) t.skip(missing);
  return missing === undefined;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const bodyOf = (token: string): string => token.slice(MACAROON_TOKEN_PREFIX.length);

const ROOT_KEY = new Uint8Array(32).map((_, i) => (i * 7 + 3) & 0xff);
const KEY_ID = "AbC123xyz0123456";

function sigilToken(caveats: string[]) {
  const tokenId = newTokenId();
  const m = mintMacaroon({ rootKey: ROOT_KEY, identifier: formatIdentifier({ keyId: KEY_ID, tokenId }), location: "sigil", caveats });
  return { m, tokenId, token: formatMacaroonToken(m) };
}

describe("pymacaroons interop", () => {
  test("pymacaroons version", (t) => {
    if (!needsPymacaroons(t)) return;
    const { version } = python({ op: "version" });
    t.diagnostic(`pymacaroons ${version}`);
    assert.match(version, /^\d+\.\d+/);
  });

  test("minted in TypeScript: pymacaroons reads every field, re-encodes the same bytes and verifies it", (t) => {
    if (!needsPymacaroons(t)) return;
    const caveats = [keyIdCaveat(KEY_ID), expiresCaveat(new Date("2030-01-01T00:00:00Z")), scopeCaveat(["read", "write"]), audCaveat("billing")];
    const { m, token } = sigilToken(caveats);
    const seen = python({ op: "inspect", macaroon: bodyOf(token), root_key_hex: hex(ROOT_KEY) });
    assert.equal(seen.version, 2);
    assert.equal(seen.location, "sigil");
    assert.equal(seen.identifier_hex, hex(m.identifier));
    assert.deepEqual(seen.caveats, caveats.map((c) => ({ cid_hex: hex(utf8(c)), vid_hex: null, cl: null })));
    assert.equal(seen.signature_hex, hex(m.signature));
    assert.equal(seen.reserialized, bodyOf(token));
    assert.equal(seen.verified, true);
    // Control: pymacaroons rejects it under another key.
    const wrongKey = python({ op: "inspect", macaroon: bodyOf(token), root_key_hex: hex(new Uint8Array(32)) });
    assert.equal(wrongKey.verified, false);
  });

  test("attenuated in Python: TypeScript decodes it, verifies it and evaluates the narrower caveats", (t) => {
    if (!needsPymacaroons(t)) return;
    const { token, tokenId } = sigilToken([keyIdCaveat(KEY_ID), scopeCaveat(["read", "write"])]);
    let body = bodyOf(token);
    for (const caveat of [scopeCaveat(["read"]), expiresCaveat(new Date("2026-11-29T13:45:00Z"))]) {
      body = python({ op: "add_caveat", macaroon: body, caveat }).macaroon;
    }
    const m = parseMacaroonToken(MACAROON_TOKEN_PREFIX + body);
    assert.ok(verifyMacaroonSignature(m, ROOT_KEY));
    assert.deepEqual(parseIdentifier(m.identifier), { keyId: KEY_ID, tokenId });
    const ctx = { keyId: KEY_ID, parentScopes: ["read", "write", "admin"], requiredScopes: [], audience: "" };
    assert.deepEqual(evaluateCaveats(m.caveats, { ...ctx, now: new Date("2026-11-29T13:00:00Z") }), {
      ok: true,
      scopes: ["read"],
      expireTime: new Date("2026-11-29T13:45:00Z"),
    });
    assert.deepEqual(evaluateCaveats(m.caveats, { ...ctx, now: new Date("2026-11-29T13:45:00Z") }), { ok: false, reason: "EXPIRED" });

    // A predicate Sigil does not know, added with pymacaroons, verifies but is UNKNOWN_CAVEAT.
    const odd = python({ op: "add_caveat", macaroon: body, caveat: "account = 3735928559" }).macaroon;
    const oddM = parseMacaroonToken(MACAROON_TOKEN_PREFIX + odd);
    assert.ok(verifyMacaroonSignature(oddM, ROOT_KEY));
    assert.deepEqual(evaluateCaveats(oddM.caveats, { ...ctx, now: new Date("2026-11-29T13:00:00Z") }), { ok: false, reason: "UNKNOWN_CAVEAT" });
  });

  test("attenuated in TypeScript after Python: both sides still agree", (t) => {
    if (!needsPymacaroons(t)) return;
    const { token } = sigilToken([scopeCaveat(["read", "write"])]);
    const fromPython = MACAROON_TOKEN_PREFIX + python({ op: "add_caveat", macaroon: bodyOf(token), caveat: audCaveat("billing") }).macaroon;
    const narrowed = attenuate(fromPython, [scopeCaveat(["read"])]);
    assert.equal(python({ op: "inspect", macaroon: bodyOf(narrowed), root_key_hex: hex(ROOT_KEY) }).verified, true);
  });

  test("minted in Python (v2 binary): TypeScript decodes and verifies it", (t) => {
    if (!needsPymacaroons(t)) return;
    const identifier = formatIdentifier({ keyId: KEY_ID, tokenId: newTokenId() });
    const caveats = [scopeCaveat(["read"]), "account = 3735928559"];
    const minted = python({ op: "mint", root_key_hex: hex(ROOT_KEY), identifier, location: "http://mybank/", caveats });
    const m = decodeMacaroonBase64(minted.macaroon);
    assert.equal(m.location, "http://mybank/");
    assert.deepEqual(m.identifier, utf8(identifier));
    assert.deepEqual(m.caveats, caveats.map((c) => ({ identifier: utf8(c) })));
    assert.equal(hex(m.signature), minted.signature_hex);
    assert.ok(verifyMacaroonSignature(m, ROOT_KEY));
    assert.equal(verifyMacaroonSignature(m, new Uint8Array(32)), false);
    // Same content minted in TypeScript gives the same signature and the same bytes.
    const ours = mintMacaroon({ rootKey: ROOT_KEY, identifier, location: "http://mybank/", caveats });
    assert.equal(Buffer.from(encodeMacaroon(ours)).toString("base64url"), minted.macaroon);
    // It is also a valid sgm_ token once prefixed.
    assert.deepEqual(parseMacaroonToken(MACAROON_TOKEN_PREFIX + minted.macaroon), m);
  });

  test("minted in Python without a location: its empty location field is accepted and kept", (t) => {
    if (!needsPymacaroons(t)) return;
    const minted = python({ op: "mint", root_key_hex: hex(ROOT_KEY), identifier: "no location", location: null, caveats: [] });
    const m = decodeMacaroonBase64(minted.macaroon);
    assert.equal(m.location, "");
    assert.ok(verifyMacaroonSignature(m, ROOT_KEY));
    assert.equal(Buffer.from(encodeMacaroon(m)).toString("base64url"), minted.macaroon);
  });

  test("a real server accepts an `expires` caveat pymacaroons appends with datetime.isoformat()", async (t) => {
    if (!needsPymacaroons(t)) return;
    const server = await startTestServer();
    try {
      const sigil = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
      const { secret } = await sigil.issueKey({ name: "isoformat", owner: "svc:python", scopes: ["read"] });
      const { token } = await sigil.deriveToken({ credential: secret, format: TokenFormat.MACAROON });
      const withExpiry = (unixMs: number, offsetMinutes: number | null) => {
        const r = python({ op: "add_isoformat_expires", macaroon: bodyOf(token), unix_time: unixMs / 1000, utc_offset_minutes: offsetMinutes });
        return { token: MACAROON_TOKEN_PREFIX + (r.macaroon as string), caveat: r.caveat as string };
      };
      // Ten minutes from now, with microseconds: what Python writes for an aware datetime.
      const soon = Math.floor(server.now() / 1000) * 1000 + 600_000 + 250;
      for (const [offset, form] of [[0, /^expires \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.250000\+00:00$/], [-330, /-05:30$/], [120, /\+02:00$/]] as const) {
        const { token: narrowed, caveat } = withExpiry(soon, offset);
        assert.match(caveat, form);
        const ok = await sigil.verifyKey({ credential: narrowed });
        assert.equal(VerifyReason[ok.reason], "VALID", caveat);
        // The caveat is earlier than the token's own expiry (15 min), so it is the one reported.
        assert.equal(timestampMs(ok.expireTime!), soon, caveat);
      }
      // An instant in the past, in isoformat: expired, not an unknown caveat.
      const past = withExpiry(server.now() - 60_000, 60);
      assert.equal(VerifyReason[(await sigil.verifyKey({ credential: past.token })).reason], "EXPIRED", past.caveat);
      // A naive datetime (no offset) names no instant: still rejected.
      const naive = withExpiry(soon, null);
      assert.doesNotMatch(naive.caveat, /[zZ]|[+-]\d\d:\d\d$/);
      assert.equal(VerifyReason[(await sigil.verifyKey({ credential: naive.token })).reason], "UNKNOWN_CAVEAT", naive.caveat);
    } finally {
      await server.close();
    }
  });
});
