// A worker thread of the SQLite bulk seeder (sqlite-bulk-seed.ts): makes keys with the primitives
// IssueKey uses (newKeyId, formatApiKey, KeyHasher.hash) without building KeyRecords, and posts
// them in batches of two flat strings. At most MAX_OUTSTANDING batches wait for the loader, so
// memory stays bounded however many keys are asked for.
import { parentPort, workerData } from "node:worker_threads";
import { formatApiKey, newKeyId } from "../src/keys/api-key-format.js";
import { KeyHasher } from "../src/keys/key-hasher.js";
import type { ServerSecrets } from "../src/keys/server-secrets.js";

export interface SeedWorkerData {
  prefix: string;
  secrets: ServerSecrets;
  /** Seed numbers [first, end) are this worker's. */
  first: number;
  end: number;
  batchSize: number;
  /** Int32Array over it: [0] = batches posted and not yet taken by the loader. */
  outstanding: SharedArrayBuffer;
}

export interface SeedBatch {
  /** Seed number of the batch's first key; the others follow. */
  first: number;
  count: number;
  /** The key strings, each followed by "\n" (all of one length: the prefix is fixed). */
  keys: string;
  /** Base64 keyed hashes, 44 characters each, in key order. */
  hashes: string;
}

const MAX_OUTSTANDING = 4;

const data = workerData as SeedWorkerData;
const hasher = new KeyHasher(data.secrets);
const outstanding = new Int32Array(data.outstanding);
for (let first = data.first; first < data.end; first += data.batchSize) {
  const count = Math.min(data.batchSize, data.end - first);
  const keys = new Array<string>(count);
  const hashes = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    const keyId = newKeyId();
    const { key, secret } = formatApiKey(data.prefix, keyId);
    keys[i] = key;
    hashes[i] = hasher.hash(keyId, secret).toString("base64");
  }
  while (Atomics.load(outstanding, 0) >= MAX_OUTSTANDING) Atomics.wait(outstanding, 0, Atomics.load(outstanding, 0), 1000);
  Atomics.add(outstanding, 0, 1);
  parentPort!.postMessage({ first, count, keys: keys.join("\n") + "\n", hashes: hashes.join("") } satisfies SeedBatch);
}
