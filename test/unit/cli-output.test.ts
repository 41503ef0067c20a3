import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { describeFailure } from "../../src/cli/cli-errors.js";
import { printable } from "../../src/cli/cli-output.js";
import { requireSafeText } from "../../src/service/request-validation.js";

describe("CLI output escaping", () => {
  it("escapes exactly what the server refuses in text fields", () => {
    for (let code = 0; code <= 0x3000; code++) {
      const c = String.fromCharCode(code);
      let refused = false;
      try {
        requireSafeText(c, "f");
      } catch {
        refused = true;
      }
      assert.equal(printable(c) !== c, refused, `U+${code.toString(16)}`);
    }
    assert.equal(printable("a\u001bb\u009bc\u202ed"), "a\\x1bb\\x9bc\\u202ed");
  });

  it("escapes server error messages on the one error line", () => {
    assert.equal(describeFailure(new ConnectError("key \u202eevil\u001b[2J not found", Code.NotFound)).line, "sigil: NOT_FOUND: key \\u202eevil\\x1b[2J not found");
    assert.equal(describeFailure(new Error("line one\nline two\u2028three")).line, "sigil: line one line two\\u2028three");
  });
});
