import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { requestIdOf } from "../../src/observability/request-id.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("request ids", () => {
  it("keeps a caller's id of 1 to 128 letters, digits and .:=+/-", () => {
    for (const id of ["a", "req-1", "0af7651916cd43dd8448eb211c80319c", "trace:abc/def=1+2.3", "x".repeat(128)]) assert.equal(requestIdOf(id), id);
  });

  it("replaces anything else by a new UUID: none, too long, an API key's underscores, spaces, control characters", () => {
    for (const id of [undefined, "", "x".repeat(129), "sgl_0123456789abcdef_secret", "two words", "line\nbreak", "-leading", "ünïcode"]) {
      const replaced = requestIdOf(id);
      assert.match(replaced, UUID, String(id));
      assert.notEqual(replaced, id);
    }
    assert.notEqual(requestIdOf(undefined), requestIdOf(undefined), "a new one each time");
  });
});
