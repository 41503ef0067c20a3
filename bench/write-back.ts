// The write-back of a cache miss's key in-process (issue #14 item 1, its second half): CPU time per
// distinct key of the last-use flush (LastUseRecorder) and of the usage-analytics flush
// (UsageCounter), on a seeded database, through the server's own stack (openDatabase), each key
// used once as a random key of a million is. The usage flush twice: with the key's tenant read from
// `keys` by a subquery per row (as every row was written before; still so for a key counted without
// a tenant) and with the tenant given, as the verifier now gives it. WRITES to the database: give it a copy.
//
//   node dist/bench/write-back.js --data-dir DIR [--keys N] [--rounds N]
import path from "node:path";
import { parseArgs } from "node:util";
import pino from "pino";
import { sql } from "kysely";
import { lastUseWriter } from "../src/store/last-use-repository.js";
import { openDatabase } from "../src/store/open-database.js";
import { LastUseRecorder } from "../src/usage/last-use-recorder.js";
import { UsageCounter } from "../src/usage/usage-counter.js";

const { values } = parseArgs({
  options: { "data-dir": { type: "string" }, keys: { type: "string", default: "10000" }, rounds: { type: "string", default: "3" } },
  strict: true,
});
if (!values["data-dir"]) {
  process.stderr.write("usage: write-back.js --data-dir DIR (a copy: it writes) [--keys N] [--rounds N]\n");
  process.exit(2);
}
const perRound = Number(values.keys);
const rounds = Number(values.rounds);
const log = pino({ level: "silent" });
const { db } = openDatabase(`sqlite:${path.join(values["data-dir"], "sigil.db")}`);
const ids = (await db.selectFrom("keys").select("key_id").execute()).map((r) => r.key_id);
// Every key used once over the whole run, in random order (Fisher-Yates with a fixed seed).
let a = 0x5eed;
const random = () => {
  a = (a * 1103515245 + 12345) & 0x7fffffff;
  return a / 0x80000000;
};
for (let i = ids.length - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [ids[i], ids[j]] = [ids[j]!, ids[i]!];
}
let next = 0;
const take = (n: number) => ids.slice(next, (next += n));

async function cpuPerKey(keys: string[], write: (keys: string[]) => Promise<void>): Promise<number> {
  const before = process.cpuUsage();
  await write(keys);
  const cpu = process.cpuUsage(before);
  return (cpu.user + cpu.system) / keys.length;
}

const now = Date.now();
const variants: Array<[string, (keys: string[]) => Promise<void>]> = [
  [
    "last use (LastUseRecorder flush)",
    async (keys) => {
      const recorder = new LastUseRecorder(lastUseWriter(db, "sqlite"), { intervalMs: 60_000, log, maxPending: keys.length + 1 });
      for (const k of keys) recorder.record(k, now);
      await recorder.flush();
    },
  ],
  [
    "usage analytics (UsageCounter flush), tenant not given: read from keys per row",
    async (keys) => {
      const counter = new UsageCounter(db, { intervalMs: 60_000, log, flushAt: keys.length + 1 });
      for (const k of keys) counter.count(k, 1, now);
      await counter.flush();
    },
  ],
  [
    "usage analytics (UsageCounter flush), tenant given as the verifier now gives it",
    async (keys) => {
      const counter = new UsageCounter(db, { intervalMs: 60_000, log, flushAt: keys.length + 1 });
      for (const k of keys) counter.count(k, 1, now, "default");
      await counter.flush();
    },
  ],
];
const results = new Map<string, number[]>(variants.map(([name]) => [name, []]));
for (let round = 0; round < rounds; round++) {
  for (let i = 0; i < variants.length; i++) {
    const [name, write] = variants[(i + round) % variants.length]!;
    results.get(name)!.push(await cpuPerKey(take(perRound), write));
  }
}
await sql`pragma wal_checkpoint(truncate)`.execute(db);
console.log(`${ids.length.toLocaleString("en")} keys; ${perRound.toLocaleString("en")} distinct keys per variant and round, ${rounds} rounds (median)`);
console.log("| write-back | µs CPU per distinct key |\n| --- | --- |");
for (const [name, xs] of results) console.log(`| ${name} | ${[...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!.toFixed(1)} |`);
await db.destroy();
