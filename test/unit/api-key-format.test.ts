import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatApiKey, newKeyId, parseApiKey, SECRET_LENGTH } from "../../src/keys/api-key-format.js";
import { BASE62_ALPHABET, randomBase62 } from "../../src/keys/base62.js";

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
});
