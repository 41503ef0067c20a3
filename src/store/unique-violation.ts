/** True for a unique-constraint violation on SQLite or PostgreSQL (a concurrent duplicate insert). */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string } | undefined;
  return e?.code === "SQLITE_CONSTRAINT_PRIMARYKEY" || e?.code === "SQLITE_CONSTRAINT_UNIQUE" || e?.code === "23505";
}
