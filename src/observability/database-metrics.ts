import type { Registry } from "prom-client";
import { classifyUnavailable } from "../store/database-unavailable.js";
import { transactionConflictError } from "../store/transaction-conflict.js";
import { isUniqueViolation } from "../store/unique-violation.js";
import { CounterFamily, HistogramFamily, type CounterCell, type HistogramCell } from "./metric-cells.js";
import { DATABASE_SECONDS_BUCKETS, METRIC } from "./metric-names.js";
import type { DatabaseCall } from "./sql-call.js";

/** Why a database call failed, as a bounded label. */
export type DatabaseErrorKind = "unavailable" | "busy" | "conflict" | "constraint" | "other";

export function databaseErrorKind(err: unknown): DatabaseErrorKind {
  const unavailable = classifyUnavailable(err);
  if (unavailable) return unavailable.unreachable ? "unavailable" : "busy";
  if (transactionConflictError(err)) return "conflict";
  if (isUniqueViolation(err)) return "constraint";
  return "other";
}

/** Latency of every database call by operation and table, and failures by kind. */
export class DatabaseMetrics {
  readonly #seconds: HistogramFamily;
  readonly #errors: CounterFamily;
  readonly #secondsCells = new Map<string, HistogramCell>();
  readonly #errorCells = new Map<DatabaseErrorKind, CounterCell>();

  constructor(registry: Registry) {
    this.#seconds = new HistogramFamily(registry, {
      name: METRIC.databaseCallSeconds,
      help: "Database calls (statements, BEGIN, COMMIT, ROLLBACK) in seconds, by operation and table.",
      labelNames: ["operation", "table"],
      buckets: DATABASE_SECONDS_BUCKETS,
    });
    this.#errors = new CounterFamily(registry, {
      name: METRIC.databaseErrors,
      help: "Failed database calls: unavailable (out of reach), busy (SQLite lock wait ran out), conflict (PostgreSQL aborted a concurrent transaction), constraint, other.",
      labelNames: ["kind"],
    });
  }

  observe(call: DatabaseCall, seconds: number): void {
    const key = `${call.operation} ${call.table}`;
    let cell = this.#secondsCells.get(key);
    if (cell === undefined) {
      cell = this.#seconds.cell(call.operation, call.table);
      this.#secondsCells.set(key, cell);
    }
    cell.observe(seconds);
  }

  failed(kind: DatabaseErrorKind): void {
    let cell = this.#errorCells.get(kind);
    if (cell === undefined) {
      cell = this.#errors.cell(kind);
      this.#errorCells.set(kind, cell);
    }
    cell.value++;
  }
}
