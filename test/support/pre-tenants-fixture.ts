import { copyFileSync, chmodSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { sql } from "kysely";
import { migrateTo } from "../../src/store/migrations.js";
import { openDatabase } from "../../src/store/open-database.js";
import { createTestDatabase, type TestDatabase } from "./postgres.js";

/**
 * The database a Sigil release made before tenants existed (test/fixtures/pre-tenants, made by its
 * make-fixture.sh). TEST-ONLY SECRETS: its keys, tokens and server secret are public.
 */
const FIXTURE_DIR = fileURLToPath(new URL("../../../test/fixtures/pre-tenants/", import.meta.url));

/** The last migration of that release: the schema the fixture database is at. */
export const PRE_TENANTS_MIGRATION = "0007_key_usage";

export interface PreTenantsManifest {
  readonly createdBy: { readonly commit: string };
  readonly fixtureTimeMs: number;
  readonly keys: Record<string, { readonly keyId: string; readonly credential: string; readonly previousCredential?: string }>;
  readonly tokens: Record<string, string>;
  readonly verifications: ReadonlyArray<{
    readonly label: string;
    readonly credential: string;
    readonly clientIp?: string;
    readonly requiredScopes?: string[];
    readonly audience?: string;
    readonly answer: Record<string, unknown>;
  }>;
  readonly records: Record<string, { readonly key: Record<string, unknown> }>;
  readonly auditPages: ReadonlyArray<{ readonly events: ReadonlyArray<Record<string, unknown>> }>;
  readonly usage: Record<"billing" | "unattributed", Record<string, unknown>>;
  readonly signingKeys: ReadonlyArray<{ readonly kid: string; readonly state: number }>;
}

export function preTenantsManifest(): PreTenantsManifest {
  return JSON.parse(readFileSync(path.join(FIXTURE_DIR, "manifest.json"), "utf8")) as PreTenantsManifest;
}

export function preTenantsServerSecret(): string {
  return readFileSync(path.join(FIXTURE_DIR, "TEST-ONLY-server-secret"), "utf8").trim();
}

/** A private copy of the fixture database (SQLite), in a directory of its own with the modes Sigil requires. */
export function copyPreTenantsSqlite(): { url: string; dir: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "sigil-pre-tenants-"));
  const file = path.join(dir, "sigil.db");
  copyFileSync(path.join(FIXTURE_DIR, "sigil.db"), file);
  chmodSync(file, 0o600);
  return { url: `sqlite:${file}`, dir };
}

/** Tables of the schema at PRE_TENANTS_MIGRATION, in an order that inserts cleanly. */
const TABLES = ["keys", "change_feed_horizon", "signing_keys", "issue_requests", "audit_events", "key_usage", "change_feed"] as const;

/**
 * PostgreSQL's "before" database: the schema built by the migrations up to PRE_TENANTS_MIGRATION,
 * holding exactly the fixture's rows (sequence numbers included), as that release would have left it.
 */
export async function preTenantsPostgres(): Promise<TestDatabase> {
  const database = await createTestDatabase();
  const { db } = openDatabase(database.url);
  const source = new Database(path.join(FIXTURE_DIR, "sigil.db"), { readonly: true, fileMustExist: true });
  try {
    await migrateTo(db, "postgres", PRE_TENANTS_MIGRATION);
    // 0002 seeded the horizon row; the fixture's own replaces it.
    await sql`delete from change_feed_horizon`.execute(db);
    // The feed's trigger draws seq itself; the fixture's numbers are kept instead (then the sequence is moved past them).
    await sql`alter table change_feed disable trigger change_feed_before_insert`.execute(db);
    for (const table of TABLES) {
      const rows = source.prepare(`select * from ${table}`).all() as Array<Record<string, unknown>>;
      for (let i = 0; i < rows.length; i += 200) await db.insertInto(table as never).values(rows.slice(i, i + 200) as never).execute();
    }
    await sql`alter table change_feed enable trigger change_feed_before_insert`.execute(db);
    await sql`select setval('change_feed_seq_seq', (select coalesce(max(seq), 1) from change_feed))`.execute(db);
    await sql`select setval(pg_get_serial_sequence('audit_events', 'seq'), (select coalesce(max(seq), 1) from audit_events))`.execute(db);
  } finally {
    source.close();
    await db.destroy();
  }
  return database;
}
