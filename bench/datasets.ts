// Stored key sets for the cache-miss scenarios. Seeding goes through the lead's bulk seeder
// (dist/bench/seed.js, run with the server stopped) when it exists; without it, small sets are
// issued through IssueKey instead and large ones are skipped.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PinnedProcess } from "./servers/pinned-process.js";
import type { SigilRpc } from "./sigil-rpc.js";

export const SEED_SCRIPT = fileURLToPath(new URL("./seed.js", import.meta.url));
/** Above this many keys, seeding through IssueKey takes too long to be worth it. */
export const RPC_SEED_LIMIT = 20_000;
const RPC_SEED_CONCURRENCY = 32;

/** Key strings, one per line, in shared memory so every load worker reads the same copy. */
export interface KeyList {
  keyText: SharedArrayBuffer;
  /** lineCount + 1 offsets; line i spans [lineStarts[i], lineStarts[i+1] - 1). */
  lineStarts: SharedArrayBuffer;
  lineCount: number;
}

export function loadKeyList(file: string): KeyList {
  let text = readFileSync(file);
  if (text.length > 0 && text[text.length - 1] !== 0x0a) text = Buffer.concat([text, Buffer.from("\n")]);
  const starts: number[] = [0];
  for (let at = text.indexOf(0x0a); at !== -1; at = text.indexOf(0x0a, at + 1)) starts.push(at + 1);
  const lineCount = starts.length - 1;
  if (lineCount === 0) throw new Error(`${file} holds no keys`);
  const keyText = new SharedArrayBuffer(text.length);
  Buffer.from(keyText).set(text);
  const lineStarts = new SharedArrayBuffer(4 * starts.length);
  new Uint32Array(lineStarts).set(starts);
  return { keyText, lineStarts, lineCount };
}

export function keyAt(list: KeyList, index: number): string {
  const starts = new Uint32Array(list.lineStarts);
  return Buffer.from(list.keyText).toString("utf8", starts[index], starts[index + 1]! - 1);
}

export const hasSeedTool = (): boolean => existsSync(SEED_SCRIPT);

/** Runs the bulk seeder into `databaseUrl` (default: SQLite in `dataDir`); no server may be running on it. Uses both cores: nothing is measured meanwhile. */
export async function seedWithTool(dataDir: string, count: number, keysFile: string, logFile: string, databaseUrl?: string, tenants = 0): Promise<void> {
  const seeder = new PinnedProcess({
    name: "seed",
    cpus: "0,1",
    command: process.execPath,
    args: [SEED_SCRIPT, "--data-dir", dataDir, "--count", String(count), "--out", keysFile, ...(tenants > 0 ? ["--tenants", String(tenants)] : [])],
    // seed.js reads its settings as the server does: SIGIL_DATABASE_URL selects PostgreSQL.
    env: databaseUrl === undefined ? process.env : { ...process.env, SIGIL_DATABASE_URL: databaseUrl },
    logFile,
  });
  const code = await seeder.exited;
  if (code !== 0) throw new Error(`seed.js exited with code ${code} (see ${logFile})`);
}

/** Fallback seeding through IssueKey on a running server. */
export async function seedWithRpc(rpc: SigilRpc, adminKey: string, count: number, keysFile: string): Promise<void> {
  if (count > RPC_SEED_LIMIT) throw new Error(`refusing to issue ${count} keys through IssueKey (limit ${RPC_SEED_LIMIT})`);
  const keys: string[] = [];
  let next = 0;
  const issueLoop = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const response = await rpc.issueKey(adminKey, { name: `seed ${i}`, owner: "svc:seed", scopes: ["read", "write"] });
      keys.push(response.secret);
    }
  };
  await Promise.all(Array.from({ length: RPC_SEED_CONCURRENCY }, issueLoop));
  writeFileSync(keysFile, keys.join("\n") + "\n", { mode: 0o600 });
}
