import { mkdirSync } from "node:fs";
import path from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";
import type { Database, DialectName, SigilDb } from "./database.js";

export interface OpenedDatabase {
  readonly db: SigilDb;
  readonly dialect: DialectName;
}

// int8 (bigint) columns hold millisecond times and sequence numbers, all far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

/** Opens the database named by a `sqlite:<path>` or `postgres://` URL. */
export function openDatabase(url: string): OpenedDatabase {
  if (url.startsWith("sqlite:")) {
    const file = url.slice("sqlite:".length);
    if (file !== ":memory:") mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const sqlite = new BetterSqlite3(file);
    // WAL lets readers run beside the writer (and several processes share one file);
    // NORMAL sync in WAL mode loses nothing when a process dies, only on power loss.
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("synchronous = NORMAL");
    sqlite.pragma("busy_timeout = 5000");
    sqlite.pragma("foreign_keys = ON");
    return { db: new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) }), dialect: "sqlite" };
  }
  const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 5000 });
  // An idle client that loses its connection emits 'error'; the pool replaces it. Without a
  // listener Node would crash the process.
  pool.on("error", () => {});
  return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), dialect: "postgres" };
}
