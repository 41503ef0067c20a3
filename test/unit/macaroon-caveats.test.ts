import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  attenuate,
  audCaveat,
  evaluateCaveats,
  expiresCaveat,
  formatIdentifier,
  formatMacaroonToken,
  InvalidCaveatError,
  keyIdCaveat,
  MacaroonFormatError,
  mintMacaroon,
  newTokenId,
  parseCaveat,
  parseIdentifier,
  parseMacaroonToken,
  scopeCaveat,
  verifyMacaroonSignature,
  type Caveat,
  type CaveatContext,
} from "../../src/tokens/macaroon/index.js";

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const caveats = (...texts: string[]): Caveat[] => texts.map((t) => ({ identifier: utf8(t) }));

const NOW = new Date("2026-11-29T13:00:00Z");
const CTX: CaveatContext = {
  now: NOW,
  keyId: "AbC123",
  parentScopes: ["read", "write", "admin"],
  requiredScopes: [],
  audience: "",
};

describe("parseCaveat", () => {
  test("accepts exactly Sigil's forms", () => {
    assert.deepEqual(parseCaveat("expires 2026-11-29T13:45:00Z"), { kind: "expires", time: new Date("2026-11-29T13:45:00Z") });
    assert.deepEqual(parseCaveat("expires 2026-11-29T13:45:00.5Z"), { kind: "expires", time: new Date("2026-11-29T13:45:00.500Z") });
    // Sub-millisecond digits are truncated (earlier, never later).
    assert.deepEqual(parseCaveat("expires 2026-11-29T13:45:00.123999999Z"), { kind: "expires", time: new Date("2026-11-29T13:45:00.123Z") });
    assert.deepEqual(parseCaveat("expires 0050-01-01T00:00:00Z"), { kind: "expires", time: new Date("0050-01-01T00:00:00Z") });
  });

  test("expires takes any RFC 3339 date-time with an offset (§5.6)", () => {
    const at = (text: string) => {
      const p = parseCaveat(`expires ${text}`);
      assert.ok(p?.kind === "expires", text);
      return p.time.toISOString();
    };
    // Python's datetime.isoformat() with a timezone: "+00:00", with or without microseconds.
    assert.equal(at("2026-12-01T08:09:35+00:00"), "2026-12-01T08:09:35.000Z");
    assert.equal(at("2026-12-01T08:09:35.123456+00:00"), "2026-12-01T08:09:35.123Z");
    assert.equal(at("2026-12-01T08:09:35-00:00"), "2026-12-01T08:09:35.000Z");
    // Other offsets name the same instant in another zone.
    assert.equal(at("2026-12-01T09:09:35+01:00"), "2026-12-01T08:09:35.000Z");
    assert.equal(at("2026-12-01T02:39:35-05:30"), "2026-12-01T08:09:35.000Z");
    assert.equal(at("2026-12-02T07:08:35+23:59"), "2026-12-01T07:09:35.000Z");
    // Offsets carry dates across day, month and year boundaries.
    assert.equal(at("2026-12-31T23:30:00-01:00"), "2027-01-01T00:30:00.000Z");
    assert.equal(at("2027-01-01T00:30:00+01:00"), "2026-12-31T23:30:00.000Z");
    assert.equal(at("2028-02-29T23:00:00-02:00"), "2028-03-01T01:00:00.000Z");
    // Lower-case t and z, fractions of any length (truncated to milliseconds, never rounded up).
    assert.equal(at("2026-11-29t13:45:00z"), "2026-11-29T13:45:00.000Z");
    assert.equal(at("2026-11-29T13:45:00.9999999999999999999Z"), "2026-11-29T13:45:00.999Z");
    assert.equal(at("2026-11-29T13:45:00.1+02:00"), "2026-11-29T11:45:00.100Z");
    assert.equal(at("0000-01-01T00:00:00Z"), "0000-01-01T00:00:00.000Z");
    assert.deepEqual(parseCaveat("scope read"), { kind: "scope", scopes: ["read"] });
    assert.deepEqual(parseCaveat("scope read keys:write a/b.c_d-e*"), { kind: "scope", scopes: ["read", "keys:write", "a/b.c_d-e*"] });
    assert.deepEqual(parseCaveat("aud https://api.example.com"), { kind: "aud", audience: "https://api.example.com" });
    assert.deepEqual(parseCaveat("aud billing service"), { kind: "aud", audience: "billing service" });
    assert.deepEqual(parseCaveat("key_id AbC123"), { kind: "key_id", keyId: "AbC123" });
  });

  test("rejects anything that is not exactly one of them", () => {
    const bad = [
      "",
      "expires",
      "expires ",
      "expires  2026-11-29T13:45:00Z",
      "expires 2026-11-29T13:45:00Z ",
      "expires 2026-11-29 13:45:00Z",
      "expires 2026-11-29T13:45Z",
      "expires 2026-02-30T00:00:00Z",
      "expires 2026-13-01T00:00:00Z",
      "expires 2026-11-29T24:00:00Z",
      "expires 2026-11-29T23:60:00Z",
      "expires 2026-11-29T23:59:60Z",
      "expires 2026-11-29T13:45:00.Z",
      "expires 1796050800",
      // RFC 3339 needs an offset, a time and two-digit fields; nothing looser.
      "expires 2026-11-29T13:45:00",
      "expires 2026-11-29T13:45:00.5",
      "expires 2026-11-29",
      "expires 2026-11-29Z",
      "expires 2026-11-29T13:45:00+0000",
      "expires 2026-11-29T13:45:00+00",
      "expires 2026-11-29T13:45:00 +00:00",
      "expires 2026-11-29T13:45:00+00:00Z",
      "expires 2026-11-29T13:45:00Z+00:00",
      "expires 2026-11-29T13:45:00+24:00",
      "expires 2026-11-29T13:45:00-00:60",
      "expires 2026-11-29T13:45:00+1:00",
      "expires 2026-02-30T00:00:00+01:00",
      "expires 2026-11-29T24:00:00-05:00",
      "expires 2026-11-29T23:59:60+00:00",
      "expires 2026-11-29T13:45:00.+00:00",
      "expires 2026-11-29T13:45:00,5Z",
      "expires +2026-11-29T13:45:00Z",
      "expires 20261-11-29T13:45:00Z",
      "expires 2026-11-29T13:45:00UTC",
      "expires 2026-11-29T13:45:00GMT+01:00",
      "expires 2026-11-29T13:45:00− 05:00",
      "Expires 2026-11-29T13:45:00Z",
      " expires 2026-11-29T13:45:00Z",
      "scope",
      "scope ",
      "scope read  write",
      "scope read ",
      "scope read\twrite",
      "scope réad",
      `scope ${"a".repeat(129)}`,
      "aud",
      "aud ",
      "aud a\nb",
      "aud a\u0085b",
      `aud ${"a".repeat(257)}`,
      "key_id",
      "key_id abc_def",
      `key_id ${"a".repeat(33)}`,
      "account = 3735928559",
      "time < 2030-01-01T00:00:00Z",
      "\ufeffscope read",
    ];
    for (const text of bad) assert.equal(parseCaveat(text), undefined, JSON.stringify(text));
  });
});

describe("evaluateCaveats", () => {
  test("no caveats: the parent's scopes, no expiry", () => {
    assert.deepEqual(evaluateCaveats([], CTX), { ok: true, scopes: ["read", "write", "admin"] });
  });

  test("effective scopes are the parent's intersected with every scope caveat", () => {
    const verdict = evaluateCaveats(caveats("scope read write other", "scope write read"), CTX);
    assert.deepEqual(verdict, { ok: true, scopes: ["read", "write"] });
    assert.deepEqual(evaluateCaveats(caveats("scope read", "scope write"), CTX), { ok: true, scopes: [] });
    assert.deepEqual(evaluateCaveats([], { ...CTX, parentScopes: ["a", "a"] }), { ok: true, scopes: ["a"] });
  });

  test("required scopes must all be in the effective scopes", () => {
    const narrowed = caveats("scope read write");
    assert.equal(evaluateCaveats(narrowed, { ...CTX, requiredScopes: ["read"] }).ok, true);
    assert.equal(evaluateCaveats(narrowed, { ...CTX, requiredScopes: ["read", "write"] }).ok, true);
    assert.deepEqual(evaluateCaveats(narrowed, { ...CTX, requiredScopes: ["admin"] }), { ok: false, reason: "INSUFFICIENT_SCOPE" });
    // A caveat cannot add a scope the parent lacks.
    assert.deepEqual(evaluateCaveats(caveats("scope root"), { ...CTX, requiredScopes: ["root"] }), { ok: false, reason: "INSUFFICIENT_SCOPE" });
  });

  test("expires: invalid at or after the instant; the earliest one wins", () => {
    const exp = caveats("expires 2026-11-29T13:45:00Z", "expires 2026-11-29T14:00:00Z");
    assert.deepEqual(evaluateCaveats(exp, CTX), { ok: true, scopes: CTX.parentScopes, expireTime: new Date("2026-11-29T13:45:00Z") });
    const justBefore = new Date("2026-11-29T13:44:59.999Z");
    assert.equal(evaluateCaveats(exp, { ...CTX, now: justBefore }).ok, true);
    assert.deepEqual(evaluateCaveats(exp, { ...CTX, now: new Date("2026-11-29T13:45:00Z") }), { ok: false, reason: "EXPIRED" });
    assert.deepEqual(evaluateCaveats(exp.reverse(), { ...CTX, now: new Date("2026-11-29T13:50:00Z") }), { ok: false, reason: "EXPIRED" });
    assert.throws(() => evaluateCaveats(exp, { ...CTX, now: new Date(Number.NaN) }), RangeError);
  });

  test("aud: must equal the request's audience; a request without one is rejected", () => {
    const aud = caveats("aud billing");
    assert.equal(evaluateCaveats(aud, { ...CTX, audience: "billing" }).ok, true);
    assert.deepEqual(evaluateCaveats(aud, { ...CTX, audience: "payroll" }), { ok: false, reason: "AUDIENCE_MISMATCH" });
    assert.deepEqual(evaluateCaveats(aud, CTX), { ok: false, reason: "AUDIENCE_MISMATCH" });
    assert.deepEqual(evaluateCaveats(caveats("aud billing", "aud payroll"), { ...CTX, audience: "billing" }), { ok: false, reason: "AUDIENCE_MISMATCH" });
    // No aud caveat: any request audience is fine.
    assert.equal(evaluateCaveats([], { ...CTX, audience: "billing" }).ok, true);
  });

  test("key_id: must equal the identifier's key id", () => {
    assert.equal(evaluateCaveats(caveats("key_id AbC123"), CTX).ok, true);
    assert.deepEqual(evaluateCaveats(caveats("key_id AbC124"), CTX), { ok: false, reason: "MALFORMED" });
    assert.deepEqual(evaluateCaveats(caveats("key_id abc123"), CTX), { ok: false, reason: "MALFORMED" });
  });

  test("unknown, third-party and non-UTF-8 caveats are UNKNOWN_CAVEAT", () => {
    const unknown: Caveat[][] = [
      caveats("scope read", "account = 3735928559"),
      caveats("expires tomorrow"),
      [{ identifier: utf8("scope read"), verificationId: new Uint8Array(72), location: "https://auth/" }],
      [{ identifier: utf8("scope read"), verificationId: new Uint8Array(0) }],
      [{ identifier: Uint8Array.of(0x73, 0x63, 0x6f, 0x70, 0x65, 0x20, 0xff) }],
      [{ identifier: Uint8Array.of(0x61, 0x75, 0x64, 0x20, 0xed, 0xa0, 0x80) }], // UTF-8-encoded surrogate
    ];
    for (const c of unknown) assert.deepEqual(evaluateCaveats(c, CTX), { ok: false, reason: "UNKNOWN_CAVEAT" });
  });

  test("several failures give one predictable reason", () => {
    const all = caveats("expires 2000-01-01T00:00:00Z", "aud x", "scope none", "key_id Other");
    assert.deepEqual(evaluateCaveats([...all, ...caveats("mystery")], { ...CTX, requiredScopes: ["read"] }), { ok: false, reason: "UNKNOWN_CAVEAT" });
    assert.deepEqual(evaluateCaveats(all, { ...CTX, requiredScopes: ["read"] }), { ok: false, reason: "MALFORMED" });
    assert.deepEqual(evaluateCaveats(all.slice(0, 3), { ...CTX, requiredScopes: ["read"] }), { ok: false, reason: "EXPIRED" });
    assert.deepEqual(evaluateCaveats(all.slice(1, 3), { ...CTX, requiredScopes: ["read"] }), { ok: false, reason: "AUDIENCE_MISMATCH" });
    assert.deepEqual(evaluateCaveats(all.slice(2, 3), { ...CTX, requiredScopes: ["read"] }), { ok: false, reason: "INSUFFICIENT_SCOPE" });
  });
});

describe("builders", () => {
  test("produce caveats that parse back to their input", () => {
    assert.equal(expiresCaveat(new Date("2026-11-29T13:45:00Z")), "expires 2026-11-29T13:45:00Z");
    assert.equal(expiresCaveat(new Date("2026-11-29T13:45:00.250Z")), "expires 2026-11-29T13:45:00.250Z");
    for (const iso of ["2026-11-29T13:45:00.000Z", "2026-11-29T13:45:00.250Z", "0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z"]) {
      assert.deepEqual(parseCaveat(expiresCaveat(new Date(iso))), { kind: "expires", time: new Date(iso) });
    }
    assert.equal(scopeCaveat(["read", "keys:write"]), "scope read keys:write");
    assert.equal(audCaveat("https://api.example.com"), "aud https://api.example.com");
    assert.equal(keyIdCaveat("AbC123"), "key_id AbC123");
    for (const text of [scopeCaveat(["a"]), audCaveat("x".repeat(256)), keyIdCaveat("a".repeat(32))]) {
      assert.notEqual(parseCaveat(text), undefined);
    }
  });

  test("refuse input that would make an unknown caveat", () => {
    assert.throws(() => expiresCaveat(new Date(Number.NaN)), InvalidCaveatError);
    assert.throws(() => expiresCaveat(new Date("+010000-01-01T00:00:00Z")), InvalidCaveatError);
    assert.throws(() => scopeCaveat([]), InvalidCaveatError);
    assert.throws(() => scopeCaveat(["read write"]), InvalidCaveatError);
    assert.throws(() => scopeCaveat([""]), InvalidCaveatError);
    assert.throws(() => audCaveat(""), InvalidCaveatError);
    assert.throws(() => audCaveat("a\r\nb"), InvalidCaveatError);
    assert.throws(() => audCaveat("x".repeat(257)), InvalidCaveatError);
    assert.throws(() => keyIdCaveat("abc-def"), InvalidCaveatError);
  });
});

describe("attenuate (holder side) end to end", () => {
  const rootKey = new Uint8Array(32).fill(0x42);
  const keyId = "AbC123xyz0123456";
  const tokenId = newTokenId();
  const minted = formatMacaroonToken(
    mintMacaroon({
      rootKey,
      identifier: formatIdentifier({ keyId, tokenId }),
      location: "sigil",
      caveats: [keyIdCaveat(keyId), expiresCaveat(new Date("2026-11-29T14:00:00Z")), scopeCaveat(["read", "write"])],
    }),
  );
  const ctx = { ...CTX, keyId, parentScopes: ["read", "write", "admin"] };

  function verify(token: string, overrides: Partial<CaveatContext> = {}) {
    const m = parseMacaroonToken(token);
    assert.ok(verifyMacaroonSignature(m, rootKey), "signature must stay valid");
    assert.deepEqual(parseIdentifier(m.identifier), { keyId, tokenId });
    return evaluateCaveats(m.caveats, { ...ctx, ...overrides });
  }

  test("the minted token grants its scopes until it expires", () => {
    assert.deepEqual(verify(minted), { ok: true, scopes: ["read", "write"], expireTime: new Date("2026-11-29T14:00:00Z") });
  });

  test("attenuation narrows scopes, shortens life and pins an audience, offline", () => {
    const narrowed = attenuate(minted, [scopeCaveat(["read"]), expiresCaveat(new Date("2026-11-29T13:30:00Z")), audCaveat("billing")]);
    assert.match(narrowed, /^sgm_/);
    assert.deepEqual(verify(narrowed, { audience: "billing" }), { ok: true, scopes: ["read"], expireTime: new Date("2026-11-29T13:30:00Z") });
    assert.deepEqual(verify(narrowed, { audience: "billing", requiredScopes: ["write"] }), { ok: false, reason: "INSUFFICIENT_SCOPE" });
    assert.deepEqual(verify(narrowed, { audience: "payroll" }), { ok: false, reason: "AUDIENCE_MISMATCH" });
    assert.deepEqual(verify(narrowed, { audience: "billing", now: new Date("2026-11-29T13:30:00Z") }), { ok: false, reason: "EXPIRED" });
    // A scope caveat can never widen: asking for admin gives nothing new.
    assert.deepEqual(verify(attenuate(minted, [scopeCaveat(["admin"])])), { ok: true, scopes: [], expireTime: new Date("2026-11-29T14:00:00Z") });
    // Attenuating with nothing returns the same token.
    assert.equal(attenuate(minted, []), minted);
  });

  test("refuses caveats Sigil would reject, and bad tokens", () => {
    assert.throws(() => attenuate(minted, ["scope read", "account = 3735928559"]), InvalidCaveatError);
    assert.throws(() => attenuate(minted, ["expires tomorrow"]), (err: unknown) => err instanceof InvalidCaveatError && /expires tomorrow/.test(err.message));
    assert.throws(() => attenuate(minted.slice(4), ["scope read"]), MacaroonFormatError);
    assert.throws(() => attenuate(minted.slice(0, -3), ["scope read"]), MacaroonFormatError);
    let token = minted;
    assert.throws(() => {
      for (let i = 0; i < 70; i++) token = attenuate(token, ["scope read"]);
    }, MacaroonFormatError);
  });
});
