import type BetterSqlite3 from "better-sqlite3";
import type pg from "pg";
import type { DialectName } from "./database.js";
import { VERIFYING_KEY_STATEMENT } from "./verifying-key-repository.js";

/**
 * A hot statement whose rows come back as arrays in select-list order, not as an object per row,
 * and which PostgreSQL prepares once per connection under its name (Parse once, then only Bind and
 * Execute). It still runs through Kysely's executeQuery, so the wrapped dialects observe it (metrics,
 * spans), map an unreachable database to UNAVAILABLE, and on SQLite wait for the one connection
 * like every other statement (never reading inside another call's open transaction).
 * open-database.ts sets both engines up for them (below), recognizing them by their exact text.
 */
export interface ArrayRowStatement {
  /** PostgreSQL's prepared-statement name (unique among these statements). */
  readonly name: string;
  readonly sql: Readonly<Record<DialectName, string>>;
}

/** Every array-row statement. */
const STATEMENTS: readonly ArrayRowStatement[] = [VERIFYING_KEY_STATEMENT];

const SQLITE_TEXTS = new Set(STATEMENTS.map((s) => s.sql.sqlite));
const POSTGRES_BY_TEXT = new Map(STATEMENTS.map((s) => [s.sql.postgres, s]));

/** SQLite: a statement just prepared answers arrays if it is one of them (better-sqlite3 `raw`). */
export function prepareSqliteArrayRows(statement: BetterSqlite3.Statement, sql: string): BetterSqlite3.Statement {
  return SQLITE_TEXTS.has(sql) ? statement.raw(true) : statement;
}

/**
 * PostgreSQL: a new pool client runs these statements as named prepared statements in array row
 * mode; every other query goes through unchanged. Kysely calls `client.query(text, values)`.
 */
export function preparePostgresArrayRows(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  client.query = ((...args: unknown[]) => {
    const [text, values] = args;
    const statement = args.length === 2 && typeof text === "string" && Array.isArray(values) ? POSTGRES_BY_TEXT.get(text) : undefined;
    if (statement === undefined) return query(...args);
    return query({ name: statement.name, text, values, rowMode: "array" });
  }) as pg.PoolClient["query"];
}
