// Run as a child with --expose-gc: stores `count` keys of one shape in an in-memory SQLite database,
// reads each back as a cache miss does (findVerifyingKey) into a Map of id to VerifyingKey, as the
// cache holds them, and prints the measured heap bytes per key beside the estimate of
// keyRecordBytes, as JSON. Used by test/unit/key-record-weight.test.ts.
import { hash, randomBytes } from "node:crypto";
import { keyRecordBytes } from "../../src/cache/key-record-weight.js";
import { LruCache } from "../../src/cache/lru-cache.js";
import type { VerifyingKey } from "../../src/keys/verifying-key.js";
import { insertKeys } from "../../src/store/key-repository.js";
import { migrateToLatest } from "../../src/store/migrations.js";
import { openDatabase } from "../../src/store/open-database.js";
import type { KeyRow } from "../../src/store/tables/keys-table.js";
import { findVerifyingKey } from "../../src/store/verifying-key-repository.js";

export type RecordShape = "plain" | "scoped" | "metadata" | "networks" | "rotated";

const keyIdAt = (i: number): string => `k${String(i).padStart(15, "0")}`;

function row(i: number, shape: RecordShape): KeyRow {
  const metadata: Record<string, string> = shape === "metadata" ? Object.fromEntries(Array.from({ length: 16 }, (_, j) => [`label-${j}`, `value ${i} ${"x".repeat(40)}`])) : { team: "payments" };
  const scopes = shape === "scoped" ? Array.from({ length: 20 }, (_, j) => `orders:${j}:read`) : ["read"];
  const hash = () => randomBytes(32).toString("base64");
  return {
    key_id: keyIdAt(i),
    prefix: "sgl",
    name: `service key ${i}`,
    owner: `svc:billing-${i % 100}`,
    scopes: JSON.stringify(scopes),
    metadata: JSON.stringify(metadata),
    secret_hash: hash(),
    hash_version: 1,
    create_time: 1_700_000_000_000 + i,
    update_time: 1_700_000_000_000 + i,
    expire_time: null,
    revoke_time: null,
    revoke_reason: null,
    enabled: 1,
    imported: 0,
    secret_create_time: 1_700_000_000_000 + i,
    secret_hint: "abcd",
    lookup_hash: null,
    previous_secret_hash: shape === "rotated" ? hash() : null,
    previous_hash_version: shape === "rotated" ? 1 : null,
    previous_lookup_hash: null,
    previous_secret_create_time: shape === "rotated" ? 1 : null,
    previous_secret_expire_time: shape === "rotated" ? 2_000_000_000_000 : null,
    previous_secret_hint: shape === "rotated" ? "wxyz" : null,
    rate_limit_requests: 100,
    rate_limit_window_ms: 1000,
    rate_limit_burst: null,
    credits_remaining: null,
    credits_refill_amount: null,
    credits_refill_interval_ms: null,
    credits_refill_time: null,
    allowed_networks: shape === "networks" ? JSON.stringify(["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32"]) : null,
    last_use_time: null,
    tenant_id: "default",
  } as KeyRow;
}

export async function measure(shape: RecordShape, count: number): Promise<{ measured: number; estimated: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with --expose-gc");
  const { db, dialect } = openDatabase("sqlite::memory:");
  await migrateToLatest(db, dialect);
  for (let i = 0; i < count; i += 500) await insertKeys(db, Array.from({ length: Math.min(500, count - i) }, (_, j) => row(i + j, shape)));
  // What stays of each read is the key (with the strings it took from its row), its cache entry
  // (LruCache's Map slot and list node) and, once its secret has matched, the verifier's memo of
  // the secret's SHA-256 (a 32-byte Buffer in a WeakMap); SQLite's own memory is outside V8's heap.
  const cache = new LruCache<string, VerifyingKey>(count + 1);
  const memos = new WeakMap<VerifyingKey, Buffer>();
  const records: VerifyingKey[] = [];
  gc();
  const before = process.memoryUsage();
  for (let i = 0; i < count; i++) {
    const key = await findVerifyingKey(db, dialect, keyIdAt(i));
    cache.set(key!.keyId, key!);
    memos.set(key!, hash("sha256", `secret ${i}`, "buffer"));
  }
  gc();
  const after = process.memoryUsage();
  const bytes = after.heapUsed - before.heapUsed + (after.external - before.external);
  // Read back after the measurement, so the list of them is not counted.
  for (let i = 0; i < count; i++) records.push(cache.get(keyIdAt(i))!);
  let estimated = 0;
  for (const record of records) estimated += keyRecordBytes(record);
  await db.destroy();
  return { measured: bytes / count, estimated: estimated / count };
}

if (process.argv[2]) console.log(JSON.stringify(await measure(process.argv[2] as RecordShape, Number(process.argv[3] ?? 20000))));
