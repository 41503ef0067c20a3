import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  decodeMacaroon,
  decodeMacaroonBase64,
  encodeMacaroon,
  formatIdentifier,
  formatMacaroonToken,
  MacaroonFormatError,
  MAX_MACAROON_TOKEN_LENGTH,
  mintMacaroon,
  newTokenId,
  parseIdentifier,
  parseMacaroonToken,
  type Macaroon,
} from "../../src/tokens/macaroon/index.js";

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));
const b64url = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "base64url"));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

// libmacaroons test/unit/caveat_v2_1.vtest: location "http://example.org/", identifier "keyid",
// one caveat "account = 3735928559", root key "this is the key".
const LIBMACAROONS_V2_1 =
  "AgETaHR0cDovL2V4YW1wbGUub3JnLwIFa2V5aWQAAhRhY2NvdW50ID0gMzczNTkyODU1OQAABiD1SAf23G7fiL8PcwazgiVio2JTPb9zObphdl2kvSWdhw";
// libmacaroons test/unit/caveat_v2_4.vtest: the same plus "user = alice".
const LIBMACAROONS_V2_4 =
  "AgETaHR0cDovL2V4YW1wbGUub3JnLwIFa2V5aWQAAhRhY2NvdW50ID0gMzczNTkyODU1OQACDHVzZXIgPSBhbGljZQAABiBL6WfNHqDGsmuvakqU7psFsViG2guoXoxCqTyNDhJe_A";
// pymacaroons 0.13.0, MACAROON_V2: the README macaroon (http://mybank/) with a first-party
// caveat "account = 3735928559" and a third-party caveat whose vid was made with a fixed nonce.
const PYMACAROONS_THIRD_PARTY_HEX =
  "02010e687474703a2f2f6d7962616e6b2f021677652075736564206f757220736563726574206b6579000214616363" +
  "6f756e74203d2033373335393238353539000113687474703a2f2f617574682e6d7962616e6b2f0227746869732077" +
  "617320686f772077652072656d696e642061757468206f66206b65792f707265640448000102030405060708090a0b" +
  "0c0d0e0f1011121314151617ac019670e988a5c13450d3e6493976ddfc776582b385b1cec3c3eede8bb8e79fb176d5" +
  "0b7ade65fd615f78ff3ddaba43000006204862efa9674e8da48d8ff8a2894f49b6c7318da57d897f453553f6665d31" +
  "c561";
// pymacaroons 0.13.0, MACAROON_V2, no location given: it still writes an empty location field.
const PYMACAROONS_EMPTY_LOCATION_HEX =
  "02010002017800000620b559dd249a3e3df778f98018d927680a50c75ca77cda87e29e2f8cf72715a6e9";

function sample(caveats = ["scope read", "expires 2030-01-01T00:00:00Z"]): Macaroon {
  return mintMacaroon({ rootKey: "k".repeat(32), identifier: "v1:abc:xyz", location: "sigil", caveats });
}

function assertFormatError(fn: () => unknown, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof MacaroonFormatError, `expected MacaroonFormatError, got ${String(err)}`);
    if (message) assert.match(err.message, message);
    return true;
  });
}

/** Builds raw v2 bytes from [type, bytes] fields and EOS (0) markers, for malformed inputs. */
function raw(...parts: (number | [number, Uint8Array | number[]])[]): Uint8Array {
  const out: number[] = [2];
  for (const part of parts) {
    if (typeof part === "number") {
      out.push(part);
    } else {
      const [type, data] = part;
      out.push(type, data.length, ...data);
    }
  }
  return Uint8Array.from(out);
}
const SIG = new Array<number>(32).fill(7);

describe("v2 binary: published vectors", () => {
  test("decodes libmacaroons caveat_v2_1 and re-encodes it byte for byte", () => {
    const bytes = b64url(LIBMACAROONS_V2_1);
    const m = decodeMacaroon(bytes);
    assert.equal(m.location, "http://example.org/");
    assert.deepEqual(m.identifier, utf8("keyid"));
    assert.deepEqual(m.caveats, [{ identifier: utf8("account = 3735928559") }]);
    assert.equal(toHex(m.signature), "f54807f6dc6edf88bf0f7306b3822562a362533dbf7339ba61765da4bd259d87");
    assert.deepEqual(encodeMacaroon(m), bytes);
  });

  test("decodes libmacaroons caveat_v2_4 (two caveats)", () => {
    const bytes = b64url(LIBMACAROONS_V2_4);
    const m = decodeMacaroon(bytes);
    assert.deepEqual(
      m.caveats.map((c) => Buffer.from(c.identifier).toString()),
      ["account = 3735928559", "user = alice"],
    );
    assert.deepEqual(encodeMacaroon(m), bytes);
  });

  test("decodes a pymacaroons third-party caveat (location, identifier, vid)", () => {
    const bytes = hex(PYMACAROONS_THIRD_PARTY_HEX);
    const m = decodeMacaroon(bytes);
    assert.equal(m.location, "http://mybank/");
    assert.deepEqual(m.identifier, utf8("we used our secret key"));
    assert.equal(m.caveats.length, 2);
    assert.deepEqual(m.caveats[0], { identifier: utf8("account = 3735928559") });
    const third = m.caveats[1]!;
    assert.equal(third.location, "http://auth.mybank/");
    assert.deepEqual(third.identifier, utf8("this was how we remind auth of key/pred"));
    assert.equal(third.verificationId?.length, 72); // 24-byte nonce + secretbox(32-byte key)
    assert.deepEqual(encodeMacaroon(m), bytes);
  });

  test("keeps pymacaroons' empty location field, so its macaroons round-trip exactly", () => {
    const bytes = hex(PYMACAROONS_EMPTY_LOCATION_HEX);
    const m = decodeMacaroon(bytes);
    assert.equal(m.location, "");
    assert.deepEqual(m.identifier, utf8("x"));
    assert.deepEqual(encodeMacaroon(m), bytes);
  });
});

describe("v2 binary: round trips", () => {
  test("with and without locations, caveats, third-party caveats", () => {
    const cases: Macaroon[] = [
      sample(),
      sample([]),
      { identifier: new Uint8Array(0), caveats: [], signature: new Uint8Array(32) },
      { location: "", identifier: utf8("id"), caveats: [{ identifier: new Uint8Array([0xff, 0x00]) }], signature: new Uint8Array(32).fill(1) },
      {
        location: "https://例え.jp/",
        identifier: new Uint8Array(300).fill(9), // two-byte varint length
        caveats: [{ identifier: utf8("tp"), verificationId: new Uint8Array(72).fill(3), location: "https://auth/" }, { identifier: utf8("x"), verificationId: new Uint8Array(1) }],
        signature: new Uint8Array(32).fill(2),
      },
    ];
    for (const m of cases) {
      const decoded = decodeMacaroon(encodeMacaroon(m));
      assert.deepEqual(decoded, { ...m, caveats: [...m.caveats] });
    }
  });

  test("decoded fields are plain Uint8Arrays that do not alias the input", () => {
    const bytes = Buffer.from(encodeMacaroon(sample()));
    const m = decodeMacaroon(bytes);
    assert.equal(Object.getPrototypeOf(m.identifier), Uint8Array.prototype);
    bytes.fill(0);
    assert.deepEqual(m.identifier, utf8("v1:abc:xyz"));
  });

  test("the location field is omitted when absent and kept when empty", () => {
    const without = encodeMacaroon({ identifier: utf8("i"), caveats: [], signature: new Uint8Array(32) });
    assert.equal(toHex(without.subarray(0, 4)), "02020169");
    const empty = encodeMacaroon({ location: "", identifier: utf8("i"), caveats: [], signature: new Uint8Array(32) });
    assert.equal(toHex(empty.subarray(0, 3)), "020100");
    assert.equal("location" in decodeMacaroon(without), false);
  });
});

describe("v2 binary: malformed input", () => {
  test("every truncation of a valid macaroon is rejected", () => {
    for (const bytes of [encodeMacaroon(sample()), hex(PYMACAROONS_THIRD_PARTY_HEX)]) {
      for (let n = 0; n < bytes.length; n++) assertFormatError(() => decodeMacaroon(bytes.subarray(0, n)));
    }
  });

  test("appended bytes are rejected", () => {
    const bytes = encodeMacaroon(sample());
    for (const extra of [[0], [6, 0], [0xff]]) {
      assertFormatError(() => decodeMacaroon(Uint8Array.from([...bytes, ...extra])), /trailing/);
    }
  });

  test("wrong version bytes are rejected with a reason", () => {
    assertFormatError(() => decodeMacaroon(new Uint8Array(0)), /empty/);
    assertFormatError(() => decodeMacaroon(Uint8Array.of(1, 0)), /version byte 0x01/);
    // v1 (the libmacaroons README macaroon) and JSON are recognised and named.
    const v1 = Buffer.from("MDAxY2xvY2F0aW9uIGh0dHA6Ly9teWJhbmsvCg", "base64");
    assertFormatError(() => decodeMacaroon(v1), /v1 format/);
    assertFormatError(() => decodeMacaroon(utf8('{"v":2}')), /JSON/);
  });

  test("fields out of grammar order are rejected", () => {
    const id: [number, number[]] = [2, [0x69]];
    const loc: [number, number[]] = [1, [0x6c]];
    const sig: [number, number[]] = [6, SIG];
    // Sanity: the well-formed shape decodes.
    decodeMacaroon(raw(loc, id, 0, id, 0, 0, sig));
    assertFormatError(() => decodeMacaroon(raw(id, loc, 0, 0, sig)), /out of order/);
    assertFormatError(() => decodeMacaroon(raw(id, id, 0, 0, sig)), /out of order or repeated/);
    assertFormatError(() => decodeMacaroon(raw(loc, 0, 0, sig)), /header has no identifier/);
    assertFormatError(() => decodeMacaroon(raw(id, [4, [1]], 0, 0, sig)), /not allowed/);
    assertFormatError(() => decodeMacaroon(raw(id, [3, [1]], 0, 0, sig)), /unknown field type 3/);
    assertFormatError(() => decodeMacaroon(raw(id, 0, [4, [1]], id, 0, 0, sig)), /out of order/);
    assertFormatError(() => decodeMacaroon(raw(id, 0, [4, [1]], 0, 0, sig)), /caveat 0 has no identifier/);
    assertFormatError(() => decodeMacaroon(raw(id, 0, id, [6, SIG], 0, 0, sig)), /not allowed/);
    assertFormatError(() => decodeMacaroon(raw(id, 0, loc, id, 0, 0, sig)), /only allowed on third-party/);
    assertFormatError(() => decodeMacaroon(raw(id, 0, 0, id)), /expected signature/);
    assertFormatError(() => decodeMacaroon(raw(id, 0, 0, 0)), /found an end marker/);
    assertFormatError(() => decodeMacaroon(raw(id, 0, 0)), /missing signature/);
  });

  test("signatures must be exactly 32 bytes", () => {
    const id: [number, number[]] = [2, [0x69]];
    assertFormatError(() => decodeMacaroon(raw(id, 0, 0, [6, SIG.slice(1)])), /32 bytes, got 31/);
    assertFormatError(() => decodeMacaroon(raw(id, 0, 0, [6, [...SIG, 1]])), /32 bytes, got 33/);
    assertFormatError(() => encodeMacaroon({ identifier: utf8("i"), caveats: [], signature: new Uint8Array(31) }), /32 bytes/);
  });

  test("varints must be minimal and short", () => {
    const bytes = Uint8Array.of(2, 0x82, 0x00, 1, 0x69, 0, 0, 6, 32, ...SIG);
    assertFormatError(() => decodeMacaroon(bytes), /non-minimal varint/);
    const long = Uint8Array.of(2, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x69);
    assertFormatError(() => decodeMacaroon(long), /varint is too long/);
    const huge = Uint8Array.of(2, 2, 0xff, 0xff, 0xff, 0x7f, 0x69);
    assertFormatError(() => decodeMacaroon(huge), /at most 4096/);
  });

  test("locations must be valid UTF-8", () => {
    assertFormatError(() => decodeMacaroon(raw([1, [0xc3, 0x28]], [2, [0x69]], 0, 0, [6, SIG])), /UTF-8/);
    assertFormatError(() => encodeMacaroon({ location: "\ud800", identifier: utf8("i"), caveats: [], signature: new Uint8Array(32) }), /well-formed/);
  });

  test("random corruption never throws anything but MacaroonFormatError", () => {
    const original = hex(PYMACAROONS_THIRD_PARTY_HEX);
    let seed = 0x12345678;
    const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8;
    for (let i = 0; i < 5000; i++) {
      const bytes = Uint8Array.from(original);
      for (let j = 1 + (next() % 3); j > 0; j--) bytes[next() % bytes.length] = next() & 0xff;
      try {
        decodeMacaroon(bytes);
      } catch (err) {
        assert.ok(err instanceof MacaroonFormatError, String(err));
      }
    }
  });
});

describe("v2 binary: bounds", () => {
  const signature = new Uint8Array(32);

  test("at most 64 caveats", () => {
    const caveats = Array.from({ length: 64 }, (_, i) => ({ identifier: utf8(`c${i}`) }));
    const ok = encodeMacaroon({ identifier: utf8("i"), caveats, signature });
    assert.equal(decodeMacaroon(ok).caveats.length, 64);
    const tooMany = [...caveats, { identifier: utf8("c64") }];
    assertFormatError(() => encodeMacaroon({ identifier: utf8("i"), caveats: tooMany, signature }), /too many caveats/);
    // Hand-built 65-caveat encoding, so the decoder's own check is exercised.
    const parts = tooMany.flatMap((c) => [[2, c.identifier] as [number, Uint8Array], 0]);
    assertFormatError(() => decodeMacaroon(raw([2, [0x69]], 0, ...parts, 0, [6, SIG])), /too many caveats/);
  });

  test("each field at most 4 KiB", () => {
    const big = new Uint8Array(4096);
    decodeMacaroon(encodeMacaroon({ identifier: big, caveats: [], signature }));
    assertFormatError(() => encodeMacaroon({ identifier: new Uint8Array(4097), caveats: [], signature }), /identifier is 4097 bytes/);
    assertFormatError(() => encodeMacaroon({ identifier: utf8("i"), caveats: [{ identifier: new Uint8Array(4097) }], signature }), /at most 4096/);
    const oversizeField = Uint8Array.of(2, 2, 0x81, 0x20, ...new Uint8Array(4097), 0, 0, 6, 32, ...SIG);
    assertFormatError(() => decodeMacaroon(oversizeField), /4097 bytes/);
  });

  test("total at most 8 KiB", () => {
    const caveats = [{ identifier: new Uint8Array(4000) }, { identifier: new Uint8Array(4000) }];
    const ok = encodeMacaroon({ identifier: utf8("i"), caveats, signature });
    assert.ok(ok.length <= 8192);
    const over = [...caveats, { identifier: new Uint8Array(300) }];
    assertFormatError(() => encodeMacaroon({ identifier: utf8("i"), caveats: over, signature }), /at most 8192/);
    assertFormatError(() => decodeMacaroon(new Uint8Array(8193).fill(2)), /8193 bytes/);
  });
});

describe("sgm_ token strings", () => {
  test("round trip", () => {
    const m = sample();
    const token = formatMacaroonToken(m);
    assert.match(token, /^sgm_[A-Za-z0-9_-]+$/);
    assert.deepEqual(parseMacaroonToken(token), m);
    assert.equal(token.slice(4), Buffer.from(encodeMacaroon(m)).toString("base64url"));
  });

  test("rejects a missing prefix, bad characters, padding and non-canonical base64", () => {
    const body = formatMacaroonToken(sample()).slice(4);
    assertFormatError(() => parseMacaroonToken(body), /does not start with "sgm_"/);
    assertFormatError(() => parseMacaroonToken("SGM_" + body), /does not start/);
    assertFormatError(() => parseMacaroonToken("sgm_"), /base64url/);
    assertFormatError(() => parseMacaroonToken(`sgm_${body.slice(0, 10)}+${body.slice(11)}`), /base64url/);
    assertFormatError(() => parseMacaroonToken(`sgm_${body.slice(0, 10)} ${body.slice(11)}`), /base64url/);
    assertFormatError(() => parseMacaroonToken(`sgm_${body}=`), /base64url/);
    assertFormatError(() => parseMacaroonToken(`sgm_${body}A`)); // changes the length class
    // Same bytes, different last character: only the canonical spelling is accepted.
    const bytes = encodeMacaroon(sample());
    const unpadded = Buffer.from(bytes).toString("base64url");
    assert.notEqual(bytes.length % 3, 0, "need a length with spare bits for this test");
    const last = unpadded.at(-1)!;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const sibling = alphabet[alphabet.indexOf(last) + 1]!;
    assertFormatError(() => parseMacaroonToken(`sgm_${unpadded.slice(0, -1)}${sibling}`), /canonical/);
  });

  test("rejects strings over 8 KiB before decoding them, and never mints one", () => {
    assertFormatError(() => parseMacaroonToken("sgm_" + "A".repeat(MAX_MACAROON_TOKEN_LENGTH)), /at most 8192/);
    // A 7 KiB binary macaroon fits the binary bound but not the string bound.
    const m = { identifier: utf8("i"), caveats: [{ identifier: new Uint8Array(4000) }, { identifier: new Uint8Array(3000) }], signature: new Uint8Array(32) };
    encodeMacaroon(m);
    assertFormatError(() => formatMacaroonToken(m), /at most 8192/);
  });

  test("decodeMacaroonBase64 reads what other libraries print", () => {
    const bytes = b64url(LIBMACAROONS_V2_4);
    const expected = decodeMacaroon(bytes);
    const std = Buffer.from(bytes).toString("base64");
    assert.match(std, /[+/]/, "the vector should exercise the standard alphabet");
    assert.deepEqual(decodeMacaroonBase64(LIBMACAROONS_V2_4), expected);
    assert.deepEqual(decodeMacaroonBase64(std), expected);
    assert.deepEqual(decodeMacaroonBase64(std.replace(/=+$/, "")), expected);
    assert.deepEqual(decodeMacaroonBase64(Buffer.from(bytes).toString("base64url") + "=".repeat(std.length - std.replace(/=+$/, "").length)), expected);
  });

  test("decodeMacaroonBase64 rejects mixed alphabets, bad padding, prefixes and junk", () => {
    const std = Buffer.from(b64url(LIBMACAROONS_V2_4)).toString("base64");
    assertFormatError(() => decodeMacaroonBase64(std.replace("A", "+").replace("/", "_")), /neither/);
    assertFormatError(() => decodeMacaroonBase64(std.replace(/=*$/, "===")), /padding/);
    assertFormatError(() => decodeMacaroonBase64(std.replace(/=*$/, "=") + "A"), /neither/);
    assertFormatError(() => decodeMacaroonBase64(std.replace(/=*$/, "=")), /padding/); // needs "=="
    assertFormatError(() => decodeMacaroonBase64("sgm_" + LIBMACAROONS_V2_1), /parseMacaroonToken/);
    assertFormatError(() => decodeMacaroonBase64(""), /neither/);
    assertFormatError(() => decodeMacaroonBase64("A".repeat(20000)), /at most/);
  });
});

describe("Sigil identifiers", () => {
  test("round trip", () => {
    const tokenId = newTokenId();
    assert.match(tokenId, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(Buffer.from(tokenId, "base64url").length, 16);
    const text = formatIdentifier({ keyId: "AbC123xyz0123456", tokenId });
    assert.equal(text, `v1:AbC123xyz0123456:${tokenId}`);
    assert.deepEqual(parseIdentifier(text), { keyId: "AbC123xyz0123456", tokenId });
    assert.deepEqual(parseIdentifier(utf8(text)), { keyId: "AbC123xyz0123456", tokenId });
    assert.notEqual(newTokenId(), tokenId);
  });

  test("rejects anything else", () => {
    const tokenId = "AAAAAAAAAAAAAAAAAAAAAA";
    const bad = [
      "",
      `v2:abc:${tokenId}`,
      `v1::${tokenId}`,
      `v1:${"a".repeat(33)}:${tokenId}`,
      `v1:ab_c:${tokenId}`,
      `v1:abc:${tokenId.slice(1)}`,
      `v1:abc:${tokenId}A`,
      `v1:abc:AAAAAAAAAAAAAAAAAAAAAB`, // non-zero padding bits
      `v1:abc:${tokenId}\n`,
      `v1:abc:${tokenId}:extra`,
      `V1:abc:${tokenId}`,
    ];
    for (const text of bad) assertFormatError(() => parseIdentifier(text), /not a Sigil identifier/);
    assertFormatError(() => parseIdentifier(Uint8Array.from([...utf8(`v1:ab`), 0xe9, ...utf8(`c:${tokenId}`)])));
    assertFormatError(() => formatIdentifier({ keyId: "bad id", tokenId }), /key id/);
    assertFormatError(() => formatIdentifier({ keyId: "abc", tokenId: "short" }), /token id/);
    assert.deepEqual(parseIdentifier(`v1:${"a".repeat(32)}:${tokenId}`).keyId, "a".repeat(32));
  });
});
