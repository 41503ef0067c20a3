// One iteration of each Talos stress scenario, call for call as its k6 script does them, on Sigil's
// API (Connect JSON over HTTP/1.1, as k6 sends JSON over HTTP/1.1). Where Sigil names a thing
// differently: Talos's actor_id is Sigil's owner; "delete imported key" is RevokeKey; self-revocation is
// RevokeKey authorized by the key itself; Talos's tenant hostnames are Sigil tenants (a verification
// restricted to tenant B must not find a key of tenant A); a rotation keeps the key id and replaces the
// secret (no grace period), so the old secret must fail and the new one verify.
import { Code } from "@connectrpc/connect";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { TokenFormat, VerifyReason, type SigilClient } from "../../clients/typescript/src/index.js";
import type { TalosRecorder } from "./recorder.js";
import type { IterationName } from "./stress-profile.js";

export interface TalosKey {
  keyId: string;
  secret: string;
  owner: string;
}

/** What the profile's setup() creates once: keys the read scenarios use and never change. */
export interface TalosFixtures {
  readKeys: TalosKey[];
  importedReadKeys: Array<{ keyId: string; rawKey: string }>;
  revokedKeys: TalosKey[];
  macaroonKey: TalosKey;
  batchBoundaryKeys: TalosKey[];
}

export interface TalosContext {
  admin: SigilClient;
  /** Unauthenticated calls (verification). */
  anonymous: SigilClient;
  /** Self-revocation: a client authorized by the key being revoked. */
  authorizedBy(credential: string): SigilClient;
  httpUrl: string;
  runId: string;
  fixtures: TalosFixtures;
  rec: TalosRecorder;
}

/** Where the iteration is: the VU's number and its iteration count, as k6's __VU and __ITER. */
export interface VuState {
  vu: number;
  iteration: number;
}

const HOUR = durationFromMs(3_600_000);
const rawKeyOf = (kind: string, id: string) => `sk_${kind}_${id}_${"x".repeat(20)}`;

async function verify(ctx: TalosContext, credential: string, tenantId = "") {
  return ctx.rec.request("verify", "VerifyKey", () => ctx.anonymous.verifyKey({ credential, tenantId }));
}

async function read(ctx: TalosContext, st: VuState): Promise<void> {
  const { rec, fixtures } = ctx;
  const i = st.iteration % fixtures.readKeys.length;
  const key = fixtures.readKeys[i]!;
  await rec.get(`${ctx.httpUrl}/healthz`);
  const v = await verify(ctx, key.secret);
  if (rec.check("verify: valid, key id, owner, scopes", v?.valid === true && v.keyId === key.keyId && v.owner === key.owner && v.scopes.length > 0)) rec.count("verifications");
  const three = [0, 1, 2].map((d) => ({ credential: fixtures.readKeys[(i + d) % fixtures.readKeys.length]!.secret }));
  const batch = await rec.request("other", "BatchVerifyKeys", () => ctx.anonymous.batchVerifyKeys({ requests: three }));
  rec.check("batch: 3 valid", batch?.results.length === 3 && batch.results.every((r) => r.valid));
  const got = await rec.request("other", "GetKey", () => ctx.admin.getKey({ keyId: key.keyId }));
  rec.check("get: key id, name, owner", got?.key?.keyId === key.keyId && (got.key.name.length ?? 0) > 0 && got.key.owner === key.owner);
  const list = await rec.request("other", "ListKeys", () => ctx.admin.listKeys({ pageSize: 50 }));
  rec.check("list: has keys", (list?.keys.length ?? 0) > 0);
  const derived = await rec.request("other", "DeriveToken", () => ctx.anonymous.deriveToken({ credential: key.secret, format: TokenFormat.JWT, ttl: HOUR, scopes: ["read"] }));
  if (rec.check("derive: token, expiry, scopes", (derived?.token.length ?? 0) > 0 && derived?.expireTime !== undefined && derived.scopes.length > 0)) rec.count("token_derivations");
  const jwks = await rec.get(`${ctx.httpUrl}/.well-known/jwks.json`);
  rec.check("jwks: 200", jwks !== undefined);
  const imported = fixtures.importedReadKeys[st.iteration % fixtures.importedReadKeys.length]!;
  const vi = await verify(ctx, imported.rawKey);
  rec.check("verify-import: valid", vi?.valid === true && vi.keyId === imported.keyId);
  const revoked = fixtures.revokedKeys[st.iteration % fixtures.revokedKeys.length]!;
  const vr = await verify(ctx, revoked.secret);
  rec.check("verify-revoked: REVOKED", vr?.valid === false && vr.reason === VerifyReason.REVOKED);
  const vx = await verify(ctx, `invalid_${ctx.runId}_vu${st.vu}_iter${st.iteration}`);
  rec.check("verify-invalid: not valid", vx?.valid === false);
}

async function keyLifecycle(ctx: TalosContext, st: VuState): Promise<void> {
  const { rec } = ctx;
  const id = `${ctx.runId}_vu${st.vu}_iter${st.iteration}`;
  const created = await rec.request("other", "IssueKey", () =>
    ctx.admin.issueKey({ name: `Lifecycle Key ${id}`, owner: `lifecycle-${id}`, scopes: ["read", "write"], metadata: { test: "lifecycle", vu: String(st.vu), iter: String(st.iteration) } }),
  );
  if (!rec.check("create: secret, key id, active", (created?.secret.length ?? 0) > 0 && (created?.key?.keyId.length ?? 0) > 0)) return;
  rec.count("key_creations");
  const keyId = created!.key!.keyId;
  const v1 = await verify(ctx, created!.secret);
  rec.check("verify-created: valid", v1?.valid === true && v1.keyId === keyId);
  const updated = await rec.request("other", "UpdateKey", () =>
    ctx.admin.updateKey({
      key: { keyId, name: `Updated Lifecycle Key ${id}`, scopes: ["read", "write"], metadata: { test: "lifecycle", updated: "true", vu: String(st.vu), iter: String(st.iteration) } },
      updateMask: { paths: ["name", "scopes", "metadata"] },
    }),
  );
  if (rec.check("update: name", updated?.key?.name === `Updated Lifecycle Key ${id}`)) rec.count("key_updates");
  const rotated = await rec.request("other", "RotateKey", () => ctx.admin.rotateKey({ keyId }));
  if (!rec.check("rotate: new secret", (rotated?.secret.length ?? 0) > 0)) return;
  rec.count("key_rotations");
  const v2 = await verify(ctx, rotated!.secret);
  rec.check("verify-rotated: valid", v2?.valid === true && v2.keyId === keyId);
  const v3 = await verify(ctx, created!.secret);
  rec.check("verify-old: not valid", v3?.valid === false);
  const revoked = await rec.request("other", "RevokeKey", () => ctx.admin.revokeKey({ keyId, reason: "key compromise" }));
  if (rec.check("revoke: done", revoked !== undefined)) rec.count("key_revocations");
  const v4 = await verify(ctx, rotated!.secret);
  rec.check("verify-final: REVOKED", v4?.valid === false && v4.reason === VerifyReason.REVOKED);
}

async function importKey(ctx: TalosContext, rawKey: string, name: string, owner: string) {
  const res = await ctx.rec.request("other", "ImportKey", () => ctx.admin.importKey({ keyMaterial: { case: "rawKey", value: rawKey }, name, owner, scopes: ["read"] }));
  if (!ctx.rec.check("import: key id", (res?.key?.keyId.length ?? 0) > 0)) return undefined;
  ctx.rec.count("key_imports");
  return res!.key!.keyId;
}

async function importLifecycle(ctx: TalosContext, st: VuState): Promise<void> {
  const { rec } = ctx;
  const id = `${ctx.runId}_vu${st.vu}_iter${st.iteration}`;
  const rawKey = rawKeyOf("lifecycle", id);
  const keyId = await importKey(ctx, rawKey, `Import Lifecycle ${id}`, `import-lifecycle-${id}`);
  if (!keyId) return;
  const v1 = await verify(ctx, rawKey);
  rec.check("verify-imported: valid", v1?.valid === true && v1.keyId === keyId);
  const got = await rec.request("other", "GetKey", () => ctx.admin.getKey({ keyId }));
  rec.check("get-imported: key id", got?.key?.keyId === keyId);
  const list = await rec.request("other", "ListKeys", () => ctx.admin.listKeys({ pageSize: 50 }));
  rec.check("list-imported: keys", list !== undefined);
  const revoked = await rec.request("other", "RevokeKey", () => ctx.admin.revokeKey({ keyId, reason: "deleted" }));
  if (rec.check("delete-imported: done", revoked !== undefined)) rec.count("key_revocations");
  const v2 = await verify(ctx, rawKey);
  rec.check("verify-deleted-import: not valid", v2?.valid === false);
}

async function selfRevokeLifecycle(ctx: TalosContext, st: VuState): Promise<void> {
  const { rec } = ctx;
  const id = `${ctx.runId}_vu${st.vu}_iter${st.iteration}`;
  const rawKey = rawKeyOf("selfrevoke", id);
  const keyId = await importKey(ctx, rawKey, `Self-Revoke Key ${id}`, `self-revoke-${id}`);
  if (!keyId) return;
  const v1 = await verify(ctx, rawKey);
  rec.check("self-revoke-verify-before: valid", v1?.valid === true && v1.keyId === keyId);
  const revoked = await rec.request("other", "RevokeKey (self)", () => ctx.authorizedBy(rawKey).revokeKey({ keyId, reason: "key compromise" }));
  if (rec.check("self-revoke: done", revoked !== undefined)) rec.count("key_self_revocations");
  const v2 = await verify(ctx, rawKey);
  rec.check("self-revoke-verify-after: REVOKED", v2?.valid === false && v2.reason === VerifyReason.REVOKED);
}

async function batchImportLifecycle(ctx: TalosContext, st: VuState): Promise<void> {
  const { rec } = ctx;
  const id = `${ctx.runId}_vu${st.vu}_iter${st.iteration}`;
  const rawKeys = ["a", "b", "c"].map((x) => rawKeyOf(`batch_${x}`, id));
  const res = await rec.request("other", "BatchImportKeys", () =>
    ctx.admin.batchImportKeys({ requests: rawKeys.map((rawKey, i) => ({ keyMaterial: { case: "rawKey", value: rawKey }, name: `Batch Key ${i} ${id}`, owner: `batch-${id}`, scopes: ["read"] })) }),
  );
  const keyIds = (res?.results ?? []).flatMap((r) => (r.result.case === "key" ? [r.result.value.keyId] : []));
  if (!rec.check("batch-import: 3 imported", keyIds.length === 3)) return;
  rec.count("key_imports", keyIds.length);
  const v = await verify(ctx, rawKeys[0]!);
  rec.check("batch-verify: valid", v?.valid === true && v.keyId === keyIds[0]);
  for (const keyId of keyIds) {
    const revoked = await rec.request("other", "RevokeKey", () => ctx.admin.revokeKey({ keyId, reason: "clean up" }));
    rec.check("batch-cleanup: done", revoked !== undefined);
  }
  rec.count("key_revocations", keyIds.length);
}

async function tenantIsolation(ctx: TalosContext, st: VuState): Promise<void> {
  const { rec } = ctx;
  const id = `${ctx.runId}_vu${st.vu}_iter${st.iteration}`;
  const created = await rec.request("other", "IssueKey", () => ctx.admin.issueKey({ name: `NID Isolation ${id}`, owner: `nid-test-${id}`, scopes: ["read"], tenantId: TENANT_A }));
  if (!rec.check("nid-create: key", (created?.key?.keyId.length ?? 0) > 0)) return;
  rec.count("key_creations");
  const keyId = created!.key!.keyId;
  const a = await verify(ctx, created!.secret, TENANT_A);
  rec.check("nid-verify-a: valid", a?.valid === true && a.keyId === keyId);
  const b = await verify(ctx, created!.secret, TENANT_B);
  rec.check("nid-verify-b: NOT_FOUND", b?.valid === false && b.reason === VerifyReason.NOT_FOUND);
  const revoked = await rec.request("other", "RevokeKey", () => ctx.admin.revokeKey({ keyId, reason: "clean up" }));
  rec.check("nid-cleanup: done", revoked !== undefined);
  rec.count("key_revocations");
}

async function macaroonDerivation(ctx: TalosContext): Promise<void> {
  const { rec } = ctx;
  const key = ctx.fixtures.macaroonKey;
  const derived = await rec.request("other", "DeriveToken", () => ctx.anonymous.deriveToken({ credential: key.secret, format: TokenFormat.MACAROON, ttl: HOUR, scopes: ["read"] }));
  if (!rec.check("macaroon-derive: token", (derived?.token.length ?? 0) > 0)) return;
  rec.count("token_derivations");
  const v = await verify(ctx, derived!.token);
  rec.check("macaroon-verify: valid", v?.valid === true);
  rec.count("verifications");
}

async function paginationCursor(ctx: TalosContext): Promise<void> {
  const { rec } = ctx;
  const page1 = await rec.request("other", "ListKeys", () => ctx.admin.listKeys({ pageSize: 3 }));
  if (!rec.check("page1: keys and next page token", (page1?.keys.length ?? 0) > 0 && (page1?.nextPageToken.length ?? 0) > 0)) return;
  const first = new Set(page1!.keys.map((k) => k.keyId));
  const page2 = await rec.request("other", "ListKeys", () => ctx.admin.listKeys({ pageSize: 3, pageToken: page1!.nextPageToken }));
  rec.check("page2: keys, none of page 1", (page2?.keys.length ?? 0) > 0 && page2!.keys.every((k) => !first.has(k.keyId)));
}

async function batchBoundary(ctx: TalosContext): Promise<void> {
  const { rec } = ctx;
  const requests = ctx.fixtures.batchBoundaryKeys.map((k) => ({ credential: k.secret }));
  const hundred = await rec.request("other", "BatchVerifyKeys", () => ctx.anonymous.batchVerifyKeys({ requests }));
  rec.check("batch-100: 100 valid", hundred?.results.length === 100 && hundred.results.every((r) => r.valid));
  const refused = await rec.refused("BatchVerifyKeys", () => ctx.anonymous.batchVerifyKeys({ requests: [...requests, { credential: "sk_extra_over_limit_key" }] }), Code.InvalidArgument);
  rec.check("batch-101: INVALID_ARGUMENT", refused);
}

export const TENANT_A = "tenant-a";
export const TENANT_B = "tenant-b";

export const ITERATIONS: Record<IterationName, (ctx: TalosContext, st: VuState) => Promise<void>> = {
  read,
  keyLifecycle,
  importLifecycle,
  selfRevokeLifecycle,
  batchImportLifecycle,
  tenantIsolation,
  macaroonDerivation: (ctx) => macaroonDerivation(ctx),
  paginationCursor: (ctx) => paginationCursor(ctx),
  batchBoundary: (ctx) => batchBoundary(ctx),
};
