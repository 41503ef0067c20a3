import { CompiledQuery, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type SqliteDialectConfig } from "kysely";

/**
 * Kysely's SQLite dialect, except that transactions begin IMMEDIATE: the write lock is taken at
 * BEGIN (waiting up to the busy timeout), not at the first write. Sigil's transactions read, check
 * and then write (a mutation re-checks its actor, an update checks its key): under a deferred
 * BEGIN another process could commit between the read and the write, and SQLite would then fail
 * the write with SQLITE_BUSY_SNAPSHOT at once, without waiting. With IMMEDIATE, what a transaction
 * reads stays true until it commits, and a concurrent writer just waits its turn.
 */
export class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;

  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }
}

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("begin immediate"));
  }
}
