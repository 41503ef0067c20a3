import type { Dialect, Driver, Kysely, QueryCompiler } from "kysely";

/**
 * A Kysely dialect that is another one with its driver wrapped (errors mapped, calls observed):
 * everything else is the inner dialect's.
 */
export abstract class DriverWrappingDialect implements Dialect {
  readonly #inner: Dialect;

  constructor(inner: Dialect) {
    this.#inner = inner;
  }

  protected abstract wrapDriver(driver: Driver): Driver;

  createDriver(): Driver {
    return this.wrapDriver(this.#inner.createDriver());
  }

  createQueryCompiler(): QueryCompiler {
    return this.#inner.createQueryCompiler();
  }

  createAdapter() {
    return this.#inner.createAdapter();
  }

  createIntrospector(db: Kysely<any>) {
    return this.#inner.createIntrospector(db);
  }
}
