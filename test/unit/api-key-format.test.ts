import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatApiKey, KEY_ID_PATTERN, KEY_ID_TIME_CHARS, newKeyId, parseApiKey, SECRET_LENGTH } from "../../src/keys/api-key-format.js";
import { BASE62_ALPHABET, encodeBase62, randomBase62 } from "../../src/keys/base62.js";

describe("API key format", () => {
  it("round-trips and exposes id and secret", () => {
    const keyId = newKeyId();
    const { key, secret } = formatApiKey("sgl", keyId);
    assert.equal(secret.length, SECRET_LENGTH);
    assert.match(key, /^sgl_[0-9A-Za-z]{16}_[0-9A-Za-z]{49}$/);
    assert.deepEqual(parseApiKey(key, "sgl"), { prefix: "sgl", keyId, secret });
  });

  it("rejects every single-character change through the checksum or the shape", () => {
    const { key } = formatApiKey("sgl", newKeyId());
    for (let i = 0; i < key.length; i++) {
      for (const c of ["0", "z", "_"]) {
        if (key[i] === c) continue;
        const changed = key.slice(0, i) + c + key.slice(i + 1);
        assert.equal(parseApiKey(changed, "sgl"), undefined, `position ${i} -> ${c}`);
      }
    }
    assert.equal(parseApiKey(key, "abc"), undefined, "another prefix");
    assert.equal(parseApiKey(key + "0", "sgl"), undefined);
    assert.equal(parseApiKey("", "sgl"), undefined);
  });

  it("draws secret characters uniformly (no modulo bias)", () => {
    const counts = new Map<string, number>();
    const sample = randomBase62(62 * 2000);
    for (const ch of sample) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    assert.equal(counts.size, 62);
    for (const ch of BASE62_ALPHABET) {
      const n = counts.get(ch)!;
      // Expected 2000 each; a biased generator (bytes % 62) would give the first 8 characters ~1.25x.
      assert.ok(n > 1700 && n < 2300, `${ch}: ${n}`);
    }
  });

  it("key ids lead with their issue time, so later ids sort after earlier ones; ids of the same millisecond still differ", () => {
    const times = [0, 1, 61, 62, 1_800_000_000_000, 1_800_000_000_001, 2_000_000_000_000, 62 ** KEY_ID_TIME_CHARS - 1];
    const ids = times.map((t) => newKeyId(t));
    for (const id of ids) assert.match(id, KEY_ID_PATTERN);
    assert.deepEqual([...ids].sort(), ids, "byte order is issue-time order");
    assert.equal(ids[4]!.slice(0, KEY_ID_TIME_CHARS), encodeBase62(1_800_000_000_000, KEY_ID_TIME_CHARS));
    const sameMs = new Set(Array.from({ length: 1000 }, () => newKeyId(1_800_000_000_000)));
    assert.equal(sameMs.size, 1000);
    assert.throws(() => newKeyId(62 ** KEY_ID_TIME_CHARS), RangeError);
    assert.throws(() => encodeBase62(-1, 7), RangeError);
  });
});
