import type { Kysely } from "kysely";
import { Migrator, type Migration, type MigrationProvider } from "kysely/migration";
import type { DialectName } from "./database.js";

/** Migrations are code, run at start-up; each is written once for both SQLite and PostgreSQL. */
function migrations(dialect: DialectName): Record<string, Migration> {
  const seqColumn = dialect === "postgres" ? "bigserial" : "integer";
  return {
    "0001_initial": {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable("keys")
          .addColumn("key_id", "text", (c) => c.primaryKey())
          .addColumn("prefix", "text", (c) => c.notNull())
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("owner", "text", (c) => c.notNull())
          .addColumn("scopes", "text", (c) => c.notNull())
          .addColumn("metadata", "text", (c) => c.notNull())
          .addColumn("secret_hash", "text", (c) => c.notNull())
          .addColumn("hash_version", "integer", (c) => c.notNull())
          .addColumn("create_time", "bigint", (c) => c.notNull())
          .addColumn("update_time", "bigint", (c) => c.notNull())
          .addColumn("expire_time", "bigint")
          .addColumn("revoke_time", "bigint")
          .addColumn("revoke_reason", "text")
          .execute();
        await db.schema.createIndex("keys_by_create_time").on("keys").columns(["create_time", "key_id"]).execute();
        await db.schema.createIndex("keys_by_owner").on("keys").columns(["owner", "create_time", "key_id"]).execute();

        await db.schema
          .createTable("change_feed")
          .addColumn("seq", seqColumn, (c) => (dialect === "sqlite" ? c.primaryKey().autoIncrement() : c.primaryKey()))
          .addColumn("key_id", "text", (c) => c.notNull())
          .addColumn("action", "text", (c) => c.notNull())
          .addColumn("reason", "text")
          .addColumn("actor_key_id", "text")
          .addColumn("time", "bigint", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("change_feed_by_key").on("change_feed").columns(["key_id", "seq"]).execute();

        await db.schema
          .createTable("signing_keys")
          .addColumn("kid", "text", (c) => c.primaryKey())
          .addColumn("alg", "text", (c) => c.notNull())
          .addColumn("public_jwk", "text", (c) => c.notNull())
          .addColumn("sealed_private_key", "text", (c) => c.notNull())
          .addColumn("create_time", "bigint", (c) => c.notNull())
          .addColumn("retire_time", "bigint")
          .execute();

        await db.schema
          .createTable("issue_requests")
          .addColumn("request_id", "text", (c) => c.primaryKey())
          .addColumn("fingerprint", "text", (c) => c.notNull())
          .addColumn("key_id", "text", (c) => c.notNull())
          .addColumn("sealed_secret", "text", (c) => c.notNull())
          .addColumn("expire_time", "bigint", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("issue_requests_by_expiry").on("issue_requests").column("expire_time").execute();
      },
      async down(db: Kysely<any>) {
        for (const table of ["issue_requests", "signing_keys", "change_feed", "keys"]) {
          await db.schema.dropTable(table).execute();
        }
      },
    },
  };
}

class CodeMigrationProvider implements MigrationProvider {
  constructor(private readonly dialect: DialectName) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.dialect);
  }
}

/** Brings the schema up to date; throws with the failing migration's name. */
export async function migrateToLatest(db: Kysely<any>, dialect: DialectName): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new CodeMigrationProvider(dialect) });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === "Error");
  if (error) throw new Error(`migration ${failed?.migrationName ?? "(unknown)"} failed: ${(error as Error).message ?? String(error)}`);
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}

