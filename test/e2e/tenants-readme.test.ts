import assert from "node:assert/strict";
import { copyFileSync, chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { decodeJwt } from "jose";
import { createSigilClient } from "../../clients/typescript/src/index.js";
import { VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { testDialect } from "../support/postgres.js";
import { bash, readmeShBlocks } from "../support/readme-blocks.js";
import { startTestServer } from "../support/test-server.js";

import { CLI_MAIN } from "../support/cli-process.js";

describe(`README "Tenants: a SaaS walkthrough" (${testDialect()})`, () => {
  it("runs every command of the walkthrough as written, and each does what the text says", async () => {
    const [block] = readmeShBlocks("### Tenants: a SaaS walkthrough");
    assert.ok(block, "one sh block");
    const server = await startTestServer();
    const work = mkdtempSync(path.join(tmpdir(), "sigil-tenants-readme-"));
    try {
      // The platform's first admin key where `sigil serve` writes it: ./data/admin.key.
      mkdirSync(path.join(work, "data"), { mode: 0o700 });
      copyFileSync(path.join(server.dataDir, "admin.key"), path.join(work, "data", "admin.key"));
      chmodSync(path.join(work, "data", "admin.key"), 0o600);
      // Each line is a step; a `!` line must fail. Every step's exit is recorded.
      const steps = block.split("\n").filter((l) => l.trim() && !l.startsWith("#"));
      const script = steps
        .map((line, i) =>
          line.startsWith("! ")
            ? `if ${line.slice(2)}; then echo "step ${i} succeeded but must fail" >&2; exit 1; fi`
            : `${line}\necho "step ${i} exit $?" >&2`,
        )
        .join("\n");
      const run = await bash(`set -eu -o pipefail\nsigil() { node ${JSON.stringify(CLI_MAIN)} "$@"; }\n${script}`, {
        cwd: work,
        env: { PATH: process.env.PATH ?? "", SIGIL_SERVER: server.grpcUrl },
      });
      for (const [i, line] of steps.entries()) if (!line.startsWith("! ")) assert.match(run.stderr, new RegExp(`step ${i} exit 0`), line);

      // Refusals, as the text says: no escalation, and the platform's tenant is invisible.
      assert.match(run.stderr, /INVALID_ARGUMENT: scopes: sigil:tenants\.admin can only be held by keys of the tenant default/);
      assert.match(run.stderr, /NOT_FOUND: tenant default not found/);
      // The verification answer names the tenant.
      assert.match(run.stdout, /^valid\s+true$/m);
      assert.match(run.stdout, /^tenant\s+acme$/m);

      // The service's token: the tenant's issuer, tenant claim and default audience, cut to its policy's 15 minutes.
      assert.match(run.stderr, /FAILED_PRECONDITION: tenant acme policy max_derived_token_lifetime: derived tokens may live at most 900s: request a shorter ttl/);
      const jwt = decodeJwt(readFileSync(path.join(work, "orders.jwt"), "utf8").trim());
      assert.deepEqual([jwt.iss, jwt.tenant, jwt.aud, jwt.exp! - jwt.iat!], ["sigil/tenants/acme", "acme", "orders-api", 900]);
      assert.equal((run.stdout.match(/^valid\s+true$/gm) ?? []).length, 2, "the key and the token verify");

      const platform = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
      const anonymous = createSigilClient({ baseUrl: server.grpcUrl });
      const tenantOf = async (file: string) => (await anonymous.verifyKey({ credential: readFileSync(path.join(work, file), "utf8").trim() })).tenantId;
      assert.deepEqual(await Promise.all(["acme-admin.key", "orders.key", "acme-verify.key"].map(tenantOf)), ["acme", "acme", "acme"]);
      const orders = readFileSync(path.join(work, "orders.key"), "utf8").trim();
      assert.equal((await anonymous.verifyKey({ credential: orders, tenantId: "default" })).reason, VerifyReason.NOT_FOUND);
      // The customer's admin listed only its tenant's keys (itself, the orders key, the verifier).
      assert.equal((await platform.listKeys({ tenantId: "acme" })).keys.length, 3);
      for (const owner of ["acme:admin", "acme:orders", "acme:verifier"]) assert.match(run.stdout, new RegExp(owner));
      assert.doesNotMatch(run.stdout, /bootstrap/, "the platform's keys are not listed to the tenant admin");
      for (const secret of [orders, server.adminKey]) assert.ok(!run.stdout.includes(secret) && !run.stderr.includes(secret), "no key string is printed");
    } finally {
      await server.close();
      rmSync(work, { recursive: true, force: true });
    }
  });
});
