import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KeyHasher } from "../../src/keys/key-hasher.js";
import { Sealer } from "../../src/keys/sealer.js";
import { formatServerSecrets, parseServerSecrets, ServerSecretError } from "../../src/keys/server-secrets.js";

const v1 = Buffer.alloc(32, 1).toString("base64");
const v2 = Buffer.alloc(32, 2).toString("base64");

describe("server secrets, keyed hashing and sealing", () => {
  it("parses a single secret or a versioned list, highest version current", () => {
    assert.equal(parseServerSecrets(v1).current, 1);
    const both = parseServerSecrets(`v1:${v1},v2:${v2}`);
    assert.equal(both.current, 2);
    assert.deepEqual(parseServerSecrets(formatServerSecrets(both)), both);
    assert.throws(() => parseServerSecrets(Buffer.alloc(16).toString("base64")), ServerSecretError);
    assert.throws(() => parseServerSecrets(`v1:${v1},v1:${v2}`), /appears twice/);
    assert.throws(() => parseServerSecrets("v1:***"), (e: Error) => !e.message.includes("***"));
  });

  it("hashes per version and checks in constant time", () => {
    const old = new KeyHasher(parseServerSecrets(`v1:${v1}`));
    const rotated = new KeyHasher(parseServerSecrets(`v1:${v1},v2:${v2}`));
    const hash1 = old.hash("id", "secret");
    assert.ok(rotated.matches("id", "secret", hash1, 1), "retired versions still verify");
    assert.ok(!rotated.matches("id", "secret", hash1, 2));
    assert.ok(!rotated.matches("id", "other", hash1, 1));
    assert.ok(!rotated.matches("id2", "secret", hash1, 1), "the key id is bound into the hash");
    assert.ok(!old.matches("id", "secret", rotated.hash("id", "secret"), 2), "unknown versions never match");
  });

  it("seals with authentication and binds the associated data", () => {
    const sealer = new Sealer(parseServerSecrets(`v1:${v1}`), "test");
    const sealed = sealer.seal(Buffer.from("private key bytes"), "kid-1");
    assert.equal(sealer.unseal(sealed, "kid-1").toString(), "private key bytes");
    assert.throws(() => sealer.unseal(sealed, "kid-2"));
    const parts = sealed.split(".");
    parts[2] = Buffer.from("tampered!").toString("base64url");
    assert.throws(() => sealer.unseal(parts.join("."), "kid-1"));
    assert.throws(() => new Sealer(parseServerSecrets(`v1:${v1}`), "other purpose").unseal(sealed, "kid-1"), "keys differ by purpose");
    const rotated = new Sealer(parseServerSecrets(`v1:${v1},v2:${v2}`), "test");
    assert.equal(rotated.unseal(sealed, "kid-1").toString(), "private key bytes", "old versions still unseal");
    assert.match(rotated.seal(Buffer.from("x"), "a"), /^v2\./);
  });
});
