/**
 * What a database call is, in bounded terms for metric labels and span names: the operation and
 * the table, never the statement's text or its parameters.
 */
export interface DatabaseCall {
  readonly operation: "select" | "insert" | "update" | "delete" | "begin" | "commit" | "rollback" | "other";
  /** One of Sigil's tables, or "" when none (or not one of them). */
  readonly table: string;
}

/** Sigil's tables (store/database.ts) and Kysely's migration tables: the only table label values. */
const TABLES = new Set([
  "keys",
  "change_feed",
  "change_feed_horizon",
  "signing_keys",
  "issue_requests",
  "audit_events",
  "key_usage",
  "kysely_migration",
  "kysely_migration_lock",
]);

const PATTERNS: ReadonlyArray<readonly [DatabaseCall["operation"], RegExp]> = [
  ["select", /^\s*(?:with\b[\s\S]*?\)\s*)?select\b[\s\S]*?\bfrom\s+"?(\w+)"?/i],
  ["insert", /^\s*insert\s+(?:or\s+\w+\s+)?into\s+"?(\w+)"?/i],
  ["update", /^\s*update\s+"?(\w+)"?/i],
  ["delete", /^\s*delete\s+from\s+"?(\w+)"?/i],
  ["begin", /^\s*(begin)\b/i],
  ["commit", /^\s*(commit)\b/i],
  ["rollback", /^\s*(rollback)\b/i],
];

/** Statements already classified, by SQL text (Sigil's statements are few; the bound keeps odd ones out). */
const MEMO_LIMIT = 512;

export class SqlCallClassifier {
  readonly #memo = new Map<string, DatabaseCall>();

  classify(sql: string): DatabaseCall {
    const known = this.#memo.get(sql);
    if (known) return known;
    const call = classifySql(sql);
    if (this.#memo.size < MEMO_LIMIT) this.#memo.set(sql, call);
    return call;
  }
}

export function classifySql(sql: string): DatabaseCall {
  for (const [operation, re] of PATTERNS) {
    const m = re.exec(sql);
    if (!m) continue;
    const name = m[1]!.toLowerCase();
    return { operation, table: TABLES.has(name) ? name : "" };
  }
  return /^\s*select\b/i.test(sql) ? { operation: "select", table: "" } : { operation: "other", table: "" };
}
