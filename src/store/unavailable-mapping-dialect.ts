import type { CompiledQuery, DatabaseConnection, Dialect, Driver, QueryCompiler, QueryResult, TransactionSettings } from "kysely";
import { DriverWrappingDialect } from "./driver-wrapping-dialect.js";
import { classifyUnavailable, databaseUnavailableError } from "./database-unavailable.js";
import { transactionConflictError } from "./transaction-conflict.js";

/** Told about every failure that means the server is out of reach (health goes NOT_SERVING at once, not at the next probe). */
export type UnavailableListener = (reason: string) => void;

/**
 * Wraps a Kysely dialect so that every error meaning "database unreachable" (from any query,
 * transaction step or connection checkout, in any repository) becomes one UNAVAILABLE error,
 * and every other error passes through untouched.
 */
export class UnavailableMappingDialect extends DriverWrappingDialect {
  readonly #onUnavailable: UnavailableListener;

  constructor(inner: Dialect, onUnavailable: UnavailableListener) {
    super(inner);
    this.#onUnavailable = onUnavailable;
  }

  protected wrapDriver(driver: Driver): Driver {
    return new UnavailableMappingDriver(driver, this.#onUnavailable);
  }
}

class UnavailableMappingDriver implements Driver {
  readonly #inner: Driver;
  readonly #onUnavailable: UnavailableListener;
  /** Our wrapper of each connection the inner driver handed out, back to the inner one. */
  readonly #innerOf = new WeakMap<DatabaseConnection, DatabaseConnection>();

  constructor(inner: Driver, onUnavailable: UnavailableListener) {
    this.#inner = inner;
    this.#onUnavailable = onUnavailable;
    // Savepoints are optional in Kysely's Driver interface; offer them only when the inner has them.
    for (const name of ["savepoint", "rollbackToSavepoint", "releaseSavepoint"] as const) {
      const method = inner[name];
      if (method) {
        this[name] = (connection: DatabaseConnection, savepointName: string, compile: QueryCompiler["compileQuery"]) =>
          this.#map(() => method.call(inner, this.#unwrap(connection), savepointName, compile));
      }
    }
  }

  savepoint?: Driver["savepoint"];
  rollbackToSavepoint?: Driver["rollbackToSavepoint"];
  releaseSavepoint?: Driver["releaseSavepoint"];

  init(): Promise<void> {
    return this.#map(() => this.#inner.init());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const inner = await this.#map(() => this.#inner.acquireConnection());
    const wrapped: DatabaseConnection = {
      executeQuery: <R>(query: CompiledQuery) => this.#map(() => inner.executeQuery<R>(query)),
      streamQuery: <R>(query: CompiledQuery, chunkSize?: number) => this.#mapStream(inner.streamQuery<R>(query, chunkSize)),
    };
    this.#innerOf.set(wrapped, inner);
    return wrapped;
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.#map(() => this.#inner.beginTransaction(this.#unwrap(connection), settings));
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#map(() => this.#inner.commitTransaction(this.#unwrap(connection)));
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#map(() => this.#inner.rollbackTransaction(this.#unwrap(connection)));
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.#inner.releaseConnection(this.#unwrap(connection));
  }

  destroy(): Promise<void> {
    return this.#inner.destroy();
  }

  #unwrap(connection: DatabaseConnection): DatabaseConnection {
    return this.#innerOf.get(connection) ?? connection;
  }

  async #map<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (err) {
      throw this.#translate(err);
    }
  }

  async *#mapStream<R>(stream: AsyncIterableIterator<QueryResult<R>>): AsyncIterableIterator<QueryResult<R>> {
    try {
      yield* stream;
    } catch (err) {
      throw this.#translate(err);
    }
  }

  #translate(err: unknown): unknown {
    const unavailable = classifyUnavailable(err);
    if (unavailable === undefined) return transactionConflictError(err) ?? err;
    if (unavailable.unreachable) this.#onUnavailable(unavailable.reason);
    return databaseUnavailableError(unavailable.reason);
  }
}
