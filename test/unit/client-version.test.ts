import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { SIGIL_CLIENT_VERSION } from "../../clients/typescript/src/version.js";

describe("SIGIL_CLIENT_VERSION", () => {
  it("is the client package's version (sent in its User-Agent)", () => {
    const pkg = JSON.parse(readFileSync(new URL("../../../clients/typescript/package.json", import.meta.url), "utf8")) as { version: string };
    assert.equal(SIGIL_CLIENT_VERSION, pkg.version);
  });
});
