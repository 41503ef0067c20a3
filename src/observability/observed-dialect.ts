import type { Span } from "@opentelemetry/api";
import type { CompiledQuery, DatabaseConnection, Dialect, Driver, QueryCompiler, QueryResult, TransactionSettings } from "kysely";
import type { DialectName } from "../store/database.js";
import { DriverWrappingDialect } from "../store/driver-wrapping-dialect.js";
import { databaseErrorKind, type DatabaseMetrics } from "./database-metrics.js";
import { SqlCallClassifier, type DatabaseCall } from "./sql-call.js";
import { failSpan, type SigilTracing } from "./tracing.js";

export interface DatabaseObservers {
  readonly metrics?: DatabaseMetrics | undefined;
  readonly tracing?: SigilTracing | undefined;
}

const BEGIN: DatabaseCall = { operation: "begin", table: "" };
const COMMIT: DatabaseCall = { operation: "commit", table: "" };
const ROLLBACK: DatabaseCall = { operation: "rollback", table: "" };

/**
 * Wraps a Kysely dialect at the driver, so that every repository's calls are observed without
 * touching them: each statement, BEGIN, COMMIT and ROLLBACK is timed (metrics) and, inside a
 * traced call, is a child span (named by operation and table, e.g. `SELECT keys`); a transaction
 * is a span of its own (BEGIN to COMMIT or ROLLBACK) holding its statements. A Kysely plugin would
 * see statements only, not transactions, and has no hook that wraps their execution. Neither
 * statement text nor parameters reach a label or an attribute: only the operation and one of
 * Sigil's table names. Sits inside UnavailableMappingDialect, so errors are classified as raised.
 */
export class ObservedDialect extends DriverWrappingDialect {
  readonly #observers: DatabaseObservers;
  readonly #system: string;

  constructor(inner: Dialect, dialect: DialectName, observers: DatabaseObservers) {
    super(inner);
    this.#observers = observers;
    this.#system = dialect === "postgres" ? "postgresql" : "sqlite";
  }

  protected wrapDriver(driver: Driver): Driver {
    return new ObservedDriver(driver, this.#system, this.#observers);
  }
}

/** A connection handed out by the observed driver, and its open transaction's span. */
class ObservedConnection implements DatabaseConnection {
  transaction: Span | undefined;

  constructor(
    readonly inner: DatabaseConnection,
    readonly driver: ObservedDriver,
  ) {}

  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return this.driver.observe(this.driver.classify(query.sql), this.transaction, () => this.inner.executeQuery<R>(query));
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

class ObservedDriver implements Driver {
  readonly #inner: Driver;
  readonly #system: string;
  readonly #metrics: DatabaseMetrics | undefined;
  readonly #tracing: SigilTracing | undefined;
  readonly #classifier = new SqlCallClassifier();

  constructor(inner: Driver, system: string, observers: DatabaseObservers) {
    this.#inner = inner;
    this.#system = system;
    this.#metrics = observers.metrics;
    this.#tracing = observers.tracing;
    for (const name of ["savepoint", "rollbackToSavepoint", "releaseSavepoint"] as const) {
      const method = inner[name];
      if (method) {
        this[name] = (connection: DatabaseConnection, savepointName: string, compile: QueryCompiler["compileQuery"]) =>
          method.call(inner, (connection as ObservedConnection).inner, savepointName, compile);
      }
    }
  }

  savepoint?: Driver["savepoint"];
  rollbackToSavepoint?: Driver["rollbackToSavepoint"];
  releaseSavepoint?: Driver["releaseSavepoint"];

  classify(sql: string): DatabaseCall {
    return this.#classifier.classify(sql);
  }

  init(): Promise<void> {
    return this.#inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    try {
      return new ObservedConnection(await this.#inner.acquireConnection(), this);
    } catch (err) {
      // With the database gone, the pool's new connections fail here, before any statement: an
      // outage must count as unreachable calls, not only the few statements it caught in flight.
      this.#metrics?.failed(databaseErrorKind(err));
      throw err;
    }
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const observed = connection as ObservedConnection;
    observed.transaction = this.#tracing?.startChildSpan("transaction", { "db.system.name": this.#system });
    try {
      await this.observe(BEGIN, observed.transaction, () => this.#inner.beginTransaction(observed.inner, settings));
    } catch (err) {
      this.#endTransaction(observed, "begin failed");
      throw err;
    }
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const observed = connection as ObservedConnection;
    try {
      await this.observe(COMMIT, observed.transaction, () => this.#inner.commitTransaction(observed.inner));
      this.#endTransaction(observed, undefined);
    } catch (err) {
      this.#endTransaction(observed, databaseErrorKind(err));
      throw err;
    }
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const observed = connection as ObservedConnection;
    try {
      await this.observe(ROLLBACK, observed.transaction, () => this.#inner.rollbackTransaction(observed.inner));
    } finally {
      this.#endTransaction(observed, "rolled back");
    }
  }

  #endTransaction(connection: ObservedConnection, failure: string | undefined): void {
    const span = connection.transaction;
    if (!span) return;
    connection.transaction = undefined;
    if (failure) failSpan(span, failure);
    span.end();
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.#inner.releaseConnection((connection as ObservedConnection).inner);
  }

  destroy(): Promise<void> {
    return this.#inner.destroy();
  }

  /** Times one call (metrics) and, within a traced call, makes it a span (under `transaction` when one is open). */
  async observe<T>(call: DatabaseCall, transaction: Span | undefined, run: () => Promise<T>): Promise<T> {
    const span = this.#tracing?.startChildSpan(call.table ? `${call.operation.toUpperCase()} ${call.table}` : call.operation.toUpperCase(), {
      "db.system.name": this.#system,
      "db.operation.name": call.operation.toUpperCase(),
      ...(call.table ? { "db.collection.name": call.table } : {}),
    }, transaction);
    const start = performance.now();
    try {
      return await run();
    } catch (err) {
      const kind = databaseErrorKind(err);
      this.#metrics?.failed(kind);
      if (span) failSpan(span, kind);
      throw err;
    } finally {
      this.#metrics?.observe(call, (performance.now() - start) / 1000);
      span?.end();
    }
  }
}
