import { mkdirSync } from "node:fs";
import path from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, PostgresDialect, type Dialect } from "kysely";
import pg from "pg";
import { preparePostgresArrayRows, prepareSqliteArrayRows } from "./array-row-statements.js";
import type { Database, DialectName, SigilDb } from "./database.js";
import { ImmediateSqliteDialect } from "./sqlite-immediate-dialect.js";
import { UnavailableMappingDialect, type UnavailableListener } from "./unavailable-mapping-dialect.js";

export interface OpenedDatabase {
  readonly db: SigilDb;
  readonly dialect: DialectName;
}

export interface OpenDatabaseOptions {
  /** PostgreSQL: most connections this process holds. */
  readonly poolSize?: number;
  /** SQLite: how long a write waits for another process's write lock before failing with UNAVAILABLE. */
  readonly busyTimeoutMs?: number;
  /** Called on every "database unreachable" failure, before the call fails with UNAVAILABLE. */
  readonly onUnavailable?: UnavailableListener;
  /** Wraps the engine's dialect (metrics and tracing of every call: observability/observed-dialect.ts). */
  readonly wrapDialect?: (dialect: Dialect, name: DialectName) => Dialect;
}

export const DEFAULT_POOL_SIZE = 10;
export const DEFAULT_BUSY_TIMEOUT_MS = 5000;
/** A query (or connection attempt) that takes longer fails instead of holding a call forever. */
const PG_CONNECT_TIMEOUT_MS = 5000;
const PG_QUERY_TIMEOUT_MS = 30_000;

// int8 (bigint) columns hold millisecond times and sequence numbers, all far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

/**
 * Opens the database named by a `sqlite:<path>` or `postgres://` URL. Errors that mean the database
 * is out of reach come out of every query as UNAVAILABLE (see unavailable-mapping-dialect.ts).
 */
export function openDatabase(url: string, options: OpenDatabaseOptions = {}): OpenedDatabase {
  const { dialect, name } = url.startsWith("sqlite:") ? openSqlite(url.slice("sqlite:".length), options) : openPostgres(url, options);
  const observed = options.wrapDialect ? options.wrapDialect(dialect, name) : dialect;
  const mapped = new UnavailableMappingDialect(observed, options.onUnavailable ?? (() => {}));
  return { db: new Kysely<Database>({ dialect: mapped }), dialect: name };
}

function openSqlite(file: string, options: OpenDatabaseOptions): { dialect: Dialect; name: DialectName } {
  if (file !== ":memory:") mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const sqlite = new BetterSqlite3(file);
  // WAL lets readers run beside the writer (and several processes share one file);
  // NORMAL sync in WAL mode loses nothing when a process dies, only on power loss.
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = NORMAL");
  // Writers from other processes wait this long for the lock. better-sqlite3 is synchronous, so
  // the wait blocks this process's event loop: keep it short next to the call deadlines.
  sqlite.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS)}`);
  sqlite.pragma("foreign_keys = ON");
  return { dialect: new ImmediateSqliteDialect({ database: withStatementCache(sqlite) }), name: "sqlite" };
}

/**
 * Kysely's SQLite driver prepares every query anew; preparing costs about as much as running a
 * small statement. Statements are reused by SQL text (bounded: multi-row inserts of many sizes
 * would otherwise grow the map). Safe because the driver runs one statement at a time to completion.
 * The array-row statements (array-row-statements.ts) are prepared in raw mode.
 */
function withStatementCache(sqlite: BetterSqlite3.Database, capacity = 512) {
  const statements = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sql: string): BetterSqlite3.Statement {
      let statement = statements.get(sql);
      if (!statement) {
        statement = prepareSqliteArrayRows(sqlite.prepare(sql), sql);
        if (statements.size < capacity) statements.set(sql, statement);
      }
      return statement;
    },
  };
}

function openPostgres(url: string, options: OpenDatabaseOptions): { dialect: Dialect; name: DialectName } {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? DEFAULT_POOL_SIZE,
    connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
    query_timeout: PG_QUERY_TIMEOUT_MS,
    keepAlive: true,
  });
  // A client whose connection drops emits 'error': the pool handles idle ones, but one checked out
  // mid-query has no listener and would crash the process. Its query fails on its own (and is
  // mapped to UNAVAILABLE); the pool drops the broken client when it is released.
  pool.on("connect", (client) => {
    client.on("error", () => {});
    preparePostgresArrayRows(client);
  });
  pool.on("error", () => {});
  return { dialect: new PostgresDialect({ pool }), name: "postgres" };
}
