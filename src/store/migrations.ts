import { sql, type Kysely, type RawBuilder, type Transaction } from "kysely";
import { Migrator, type Migration, type MigrationProvider } from "kysely";
import type { DialectName } from "./database.js";

/** Advisory lock id that serializes change-feed appends on PostgreSQL (any constant no one else uses). */
const CHANGE_FEED_LOCK_ID = 0x5161_0001;

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
    "0002_change_feed_order_and_retention": {
      async up(db: Kysely<any>) {
        await db.schema.createIndex("change_feed_by_time").on("change_feed").column("time").execute();
        await db.schema
          .createTable("change_feed_horizon")
          .addColumn("id", "integer", (c) => c.primaryKey())
          .addColumn("pruned_through", "bigint", (c) => c.notNull())
          .execute();
        await db.insertInto("change_feed_horizon").values({ id: 1, pruned_through: 0 }).execute();
        if (dialect !== "postgres") return;
        // A bigserial is drawn at insert but becomes visible at commit, so concurrent appends could
        // commit out of seq order and a follower reading `seq > last` would skip the late one. The
        // trigger takes a transaction-scoped advisory lock before drawing the seq, so appends
        // serialize from the draw to commit and seq order is commit order. It also notifies
        // followers (delivered at commit) so they poll at once.
        await sql`alter table change_feed alter column seq drop default`.execute(db);
        await sql`
          create function change_feed_before_insert() returns trigger language plpgsql as $$
          begin
            perform pg_advisory_xact_lock(${sql.lit(CHANGE_FEED_LOCK_ID)});
            new.seq := nextval('change_feed_seq_seq');
            perform pg_notify('sigil_change_feed', '');
            return new;
          end $$`.execute(db);
        await sql`create trigger change_feed_before_insert before insert on change_feed for each row execute function change_feed_before_insert()`.execute(db);
      },
      async down(db: Kysely<any>) {
        if (dialect === "postgres") {
          await sql`drop trigger change_feed_before_insert on change_feed`.execute(db);
          await sql`drop function change_feed_before_insert()`.execute(db);
          await sql`alter table change_feed alter column seq set default nextval('change_feed_seq_seq')`.execute(db);
        }
        await db.schema.dropTable("change_feed_horizon").execute();
        await db.schema.dropIndex("change_feed_by_time").execute();
      },
    },
    "0003_keys_by_revoke_time": {
      // WatchRevocations replays "keys revoked since T" from the keys table (the feed is pruned);
      // a partial index keeps that a range scan over revoked keys only.
      async up(db: Kysely<any>) {
        await db.schema.createIndex("keys_by_revoke_time").on("keys").columns(["revoke_time", "key_id"]).where(sql.ref("revoke_time"), "is not", null).execute();
      },
      async down(db: Kysely<any>) {
        await db.schema.dropIndex("keys_by_revoke_time").execute();
      },
    },
    "0004_key_lifecycle_usage_audit": {
      // Issue #6: disable/enable, rotation with a grace period, imported keys (found by lookup hash),
      // usage controls (rate limit, credits, client networks), coalesced last use, and the audit trail.
      async up(db: Kysely<any>) {
        const columns: Array<[string, "text" | "integer" | "bigint", string?]> = [
          ["enabled", "integer", "1"],
          ["imported", "integer", "0"],
          ["secret_create_time", "bigint"],
          ["secret_hint", "text"],
          ["lookup_hash", "text"],
          ["previous_secret_hash", "text"],
          ["previous_hash_version", "integer"],
          ["previous_lookup_hash", "text"],
          ["previous_secret_create_time", "bigint"],
          ["previous_secret_expire_time", "bigint"],
          ["previous_secret_hint", "text"],
          ["rate_limit_requests", "integer"],
          ["rate_limit_window_ms", "bigint"],
          ["rate_limit_burst", "integer"],
          ["credits_remaining", "bigint"],
          ["credits_refill_amount", "bigint"],
          ["credits_refill_interval_ms", "bigint"],
          ["credits_refill_time", "bigint"],
          ["allowed_networks", "text"],
          ["last_use_time", "bigint"],
        ];
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for (const [name, type, defaultValue] of columns) {
          await db.schema
            .alterTable("keys")
            .addColumn(name, type, (c) => (defaultValue === undefined ? c : c.notNull().defaultTo(sql.lit(Number(defaultValue)))))
            .execute();
        }
        await db.schema.createIndex("keys_by_lookup_hash").unique().on("keys").column("lookup_hash").execute();
        await db.schema.createIndex("keys_by_previous_lookup_hash").on("keys").column("previous_lookup_hash").execute();

        await db.schema
          .createTable("audit_events")
          .addColumn("seq", seqColumn, (c) => (dialect === "sqlite" ? c.primaryKey().autoIncrement() : c.primaryKey()))
          .addColumn("time", "bigint", (c) => c.notNull())
          .addColumn("action", "text", (c) => c.notNull())
          .addColumn("key_id", "text", (c) => c.notNull())
          .addColumn("actor_key_id", "text")
          .addColumn("details", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("audit_events_by_key").on("audit_events").columns(["key_id", "seq"]).execute();
        await db.schema.createIndex("audit_events_by_actor").on("audit_events").columns(["actor_key_id", "seq"]).execute();
        await db.schema.createIndex("audit_events_by_time").on("audit_events").columns(["time", "seq"]).execute();
      },
      async down(db: Kysely<any>) {
        await db.schema.dropTable("audit_events").execute();
        await db.schema.dropIndex("keys_by_previous_lookup_hash").execute();
        await db.schema.dropIndex("keys_by_lookup_hash").execute();
        for (const name of [
          "last_use_time", "allowed_networks", "credits_refill_time", "credits_refill_interval_ms", "credits_refill_amount", "credits_remaining",
          "rate_limit_burst", "rate_limit_window_ms", "rate_limit_requests", "previous_secret_hint", "previous_secret_expire_time",
          "previous_secret_create_time", "previous_lookup_hash", "previous_hash_version", "previous_secret_hash", "lookup_hash", "secret_hint",
          "secret_create_time", "imported", "enabled",
        ]) {
          await db.schema.alterTable("keys").dropColumn(name).execute();
        }
      },
    },
    "0005_signing_key_feed": {
      // Issue #10: JWT signing-key changes travel on the change feed, so every process signs with
      // and publishes the same keys; at most one key is active; a leaked key can be revoked.
      async up(db: Kysely<any>) {
        await db.schema.alterTable("signing_keys").addColumn("revoke_time", "bigint").execute();
        // Processes that started at once could each have made (or rotated to) their own key: keep
        // the newest active, retire the others (they stay published until their tokens expire).
        const newest = await db
          .selectFrom("signing_keys")
          .select("kid")
          .where("retire_time", "is", null)
          .orderBy("create_time", "desc")
          .orderBy("kid", "desc")
          .executeTakeFirst();
        if (newest) {
          await db.updateTable("signing_keys").set({ retire_time: Date.now() }).where("retire_time", "is", null).where("kid", "<>", newest.kid).execute();
        }
        // The partial index holds one entry per active key, all with the same value: a second active
        // key is a unique violation, whichever process inserts it.
        await sql`create unique index signing_keys_one_active on signing_keys ((retire_time is null)) where retire_time is null`.execute(db);

        // A feed row names either an API key (key_id) or a signing key (signing_key_id).
        if (dialect === "postgres") {
          await sql`alter table change_feed alter column key_id drop not null`.execute(db);
          await sql`alter table change_feed add column signing_key_id text`.execute(db);
          await sql`alter table change_feed add constraint change_feed_one_subject check ((key_id is null) <> (signing_key_id is null))`.execute(db);
        } else {
          await rebuildSqliteChangeFeed(db, { keyIdNullable: true });
        }
      },
      async down(db: Kysely<any>) {
        await db.deleteFrom("change_feed").where("key_id", "is", null).execute();
        if (dialect === "postgres") {
          await sql`alter table change_feed drop constraint change_feed_one_subject`.execute(db);
          await sql`alter table change_feed drop column signing_key_id`.execute(db);
          await sql`alter table change_feed alter column key_id set not null`.execute(db);
        } else {
          await rebuildSqliteChangeFeed(db, { keyIdNullable: false });
        }
        await db.schema.dropIndex("signing_keys_one_active").execute();
        await db.schema.alterTable("signing_keys").dropColumn("revoke_time").execute();
      },
    },
    "0006_issue_requests_actor": {
      // Issue #9: IssueKey request ids are scoped to the calling key, so another admin reusing an id
      // issues its own key instead of receiving the first admin's secret. The table is rebuilt
      // (SQLite cannot change a primary key); live records keep their actor, read from the audit
      // trail's issue event of their key, so retries across the upgrade still replay.
      async up(db: Kysely<any>) {
        await rebuildIssueRequests(db, true, sql`
          select coalesce((select a.actor_key_id from audit_events a where a.key_id = r.key_id and a.action = 'issue' order by a.seq limit 1), ''),
                 r.request_id, r.fingerprint, r.key_id, r.sealed_secret, r.expire_time
          from issue_requests r`);
      },
      async down(db: Kysely<any>) {
        // Back to one global namespace: of ids used by several actors, the earliest-expiring record stays.
        await rebuildIssueRequests(db, false, sql`
          select r.request_id, r.fingerprint, r.key_id, r.sealed_secret, r.expire_time from issue_requests r
          where not exists (select 1 from issue_requests o where o.request_id = r.request_id
                            and (o.expire_time < r.expire_time or (o.expire_time = r.expire_time and o.actor_key_id < r.actor_key_id)))`);
      },
    },
    "0007_key_usage": {
      // Issue #11: verifications per key, minute and outcome (usage analytics). The primary key
      // serves GetKeyUsage's range reads and the adding upsert; the time index serves pruning.
      async up(db: Kysely<any>) {
        await db.schema
          .createTable("key_usage")
          .addColumn("key_id", "text", (c) => c.notNull())
          .addColumn("start_time", "bigint", (c) => c.notNull())
          .addColumn("reason", "integer", (c) => c.notNull())
          .addColumn("count", "bigint", (c) => c.notNull())
          .addPrimaryKeyConstraint("key_usage_pkey", ["key_id", "start_time", "reason"] as never)
          .execute();
        await db.schema.createIndex("key_usage_by_time").on("key_usage").column("start_time").execute();
      },
      async down(db: Kysely<any>) {
        await db.schema.dropTable("key_usage").execute();
      },
    },
    "0008_tenants": {
      // Issue #13: every key, audit event, feed entry and usage record belongs to one tenant; what
      // exists already goes into `default`, made here, so single-tenant deployments see no change.
      // Imported strings are unique per tenant (a string another tenant manages may be imported
      // without revealing that it is), so the lookup-hash index is unique on (tenant, hash).
      async up(db: Kysely<any>) {
        await db.schema
          .createTable("tenants")
          .addColumn("tenant_id", "text", (c) => c.primaryKey())
          .addColumn("display_name", "text", (c) => c.notNull())
          .addColumn("create_time", "bigint", (c) => c.notNull())
          .addColumn("update_time", "bigint", (c) => c.notNull())
          .addColumn("delete_time", "bigint")
          // JSON of the tenant's policy (src/tenants/tenant-policy.ts); {} is none.
          .addColumn("policy", "text", (c) => c.notNull().defaultTo("{}"))
          .execute();
        const now = Date.now();
        await db.insertInto("tenants").values({ tenant_id: "default", display_name: "default", create_time: now, update_time: now, delete_time: null }).execute();
        for (const table of ["keys", "change_feed", "audit_events", "key_usage"]) {
          await db.schema.alterTable(table).addColumn("tenant_id", "text", (c) => c.notNull().defaultTo("default")).execute();
        }
        await db.schema.createIndex("keys_by_tenant").on("keys").columns(["tenant_id", "create_time", "key_id"]).execute();
        await db.schema.createIndex("keys_by_tenant_owner").on("keys").columns(["tenant_id", "owner", "create_time", "key_id"]).execute();
        await db.schema.createIndex("audit_events_by_tenant").on("audit_events").columns(["tenant_id", "seq"]).execute();
        await db.schema.dropIndex("keys_by_lookup_hash").execute();
        await db.schema.createIndex("keys_by_lookup_hash").on("keys").column("lookup_hash").execute();
        await db.schema.createIndex("keys_by_tenant_lookup_hash").unique().on("keys").columns(["tenant_id", "lookup_hash"]).execute();
      },
      async down(db: Kysely<any>) {
        await db.schema.dropIndex("keys_by_tenant_lookup_hash").execute();
        await db.schema.dropIndex("keys_by_lookup_hash").execute();
        await db.schema.createIndex("keys_by_lookup_hash").unique().on("keys").column("lookup_hash").execute();
        for (const index of ["audit_events_by_tenant", "keys_by_tenant_owner", "keys_by_tenant"]) await db.schema.dropIndex(index).execute();
        for (const table of ["key_usage", "audit_events", "change_feed", "keys"]) await db.schema.alterTable(table).dropColumn("tenant_id").execute();
        await db.schema.dropTable("tenants").execute();
      },
    },
    "0009_tenant_jwt_issuer": {
      // Issue #13 item 5: each tenant's derived JWTs carry its own `iss` (null: the default one) and
      // a default `aud`. An issuer names one tenant only, deleted ones included, so a token's `iss`
      // tells offline verifiers whose it is; the unique index also settles concurrent updates.
      async up(db: Kysely<any>) {
        await db.schema.alterTable("tenants").addColumn("jwt_issuer", "text").execute();
        await db.schema.alterTable("tenants").addColumn("jwt_audience", "text", (c) => c.notNull().defaultTo("")).execute();
        await db.schema.createIndex("tenants_by_jwt_issuer").unique().on("tenants").column("jwt_issuer").execute();
      },
      async down(db: Kysely<any>) {
        await db.schema.dropIndex("tenants_by_jwt_issuer").execute();
        for (const column of ["jwt_audience", "jwt_issuer"]) await db.schema.alterTable("tenants").dropColumn(column).execute();
      },
    },
    "0010_tenant_feed": {
      // Issue #13: a tenant's policy change travels on the change feed (a row naming neither a key nor
      // a signing key: its tenant_id is the subject), so every process drops its cached copy of the
      // policy (its network boundary is read on the verification path).
      async up(db: Kysely<any>) {
        if (dialect === "postgres") {
          await sql`alter table change_feed drop constraint change_feed_one_subject`.execute(db);
          await sql`alter table change_feed add constraint change_feed_one_subject check (key_id is null or signing_key_id is null)`.execute(db);
        } else {
          await rebuildSqliteTenantChangeFeed(db, sql`check (key_id is null or signing_key_id is null)`);
        }
      },
      async down(db: Kysely<any>) {
        await db.deleteFrom("change_feed").where("key_id", "is", null).where("signing_key_id", "is", null).execute();
        if (dialect === "postgres") {
          await sql`alter table change_feed drop constraint change_feed_one_subject`.execute(db);
          await sql`alter table change_feed add constraint change_feed_one_subject check ((key_id is null) <> (signing_key_id is null))`.execute(db);
        } else {
          await rebuildSqliteTenantChangeFeed(db, sql`check ((key_id is null) <> (signing_key_id is null))`);
        }
      },
    },
    "0011_keys_without_rowid": {
      // Issue #14 rebuilt SQLite's keys WITHOUT ROWID here (one B-tree search per read by id) and
      // 0012 undid it. Its rebuild is withdrawn: a database that has not run it yet would otherwise be
      // rebuilt twice at start-up (about 17 s per million keys each) to end where it started. A
      // database that did run it is rebuilt once, by 0012.
      async up() {},
      async down(db: Kysely<any>) {
        if (dialect === "sqlite") await rebuildSqliteKeys(db, { withoutRowid: false });
      },
    },
    "0012_keys_rowid_again": {
      // Undoes what 0011 did. Key ids were random then (they lead with their issue time since;
      // stored keys keep theirs), so in a WITHOUT ROWID table every new key's whole row went to a
      // random leaf of the one B-tree (and split it), where a rowid table appends the
      // row and puts only a short (key_id, rowid) entry at a random place. Measured side by side on
      // 1,000,000 keys (`node dist/bench/run.js --only issue-key`, Node 24): IssueKey saturated
      // 3,058-3,099 req/s before 0011, 1,673-2,139 with it (below its 3,000/s goal), 3,634-3,863 with
      // 0012; the cache miss it was for showed no gain beyond the noise at server level (two runs each
      // way). PostgreSQL's tables are heaps either way: nothing to do there.
      async up(db: Kysely<any>) {
        if (dialect === "sqlite") await rebuildSqliteKeys(db, { withoutRowid: false });
      },
      async down(db: Kysely<any>) {
        if (dialect === "sqlite") await rebuildSqliteKeys(db, { withoutRowid: true });
      },
    },
  };
}

/**
 * SQLite cannot change a column's NOT NULL or add a CHECK in place: the change feed is copied into
 * a new table, in one transaction. The AUTOINCREMENT high-water mark is carried over, so a seq that
 * pruning deleted is never handed out again (followers and cursors rely on it).
 */
async function rebuildSqliteChangeFeed(db: Kysely<any>, options: { keyIdNullable: boolean }): Promise<void> {
  await db.transaction().execute(async (tx) => {
    const subject = options.keyIdNullable
      ? sql`key_id text, signing_key_id text, action text not null, reason text, actor_key_id text, time bigint not null,
            constraint change_feed_one_subject check ((key_id is null) <> (signing_key_id is null))`
      : sql`key_id text not null, action text not null, reason text, actor_key_id text, time bigint not null`;
    await sql`create table change_feed_next (seq integer primary key autoincrement, ${subject})`.execute(tx);
    await sql`insert into change_feed_next (seq, key_id, action, reason, actor_key_id, time)
              select seq, key_id, action, reason, actor_key_id, time from change_feed`.execute(tx);
    await replaceChangeFeed(tx);
  });
}

/** Puts the filled change_feed_next in change_feed's place: its sequence carried over, its indexes made again. */
async function replaceChangeFeed(tx: Transaction<any>): Promise<void> {
  await sql`delete from sqlite_sequence where name = 'change_feed_next'`.execute(tx);
  await sql`insert into sqlite_sequence (name, seq) select 'change_feed_next', seq from sqlite_sequence where name = 'change_feed'`.execute(tx);
  await sql`drop table change_feed`.execute(tx);
  await sql`alter table change_feed_next rename to change_feed`.execute(tx);
  await tx.schema.createIndex("change_feed_by_key").on("change_feed").columns(["key_id", "seq"]).execute();
  await tx.schema.createIndex("change_feed_by_time").on("change_feed").column("time").execute();
}

/** The same copy as rebuildSqliteChangeFeed, for the feed as migration 0008 left it (with tenant_id), under a new subject CHECK. */
async function rebuildSqliteTenantChangeFeed(db: Kysely<any>, subjectCheck: RawBuilder<unknown>): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await sql`create table change_feed_next (seq integer primary key autoincrement, key_id text, signing_key_id text, action text not null,
              reason text, actor_key_id text, time bigint not null, tenant_id text not null default 'default',
              constraint change_feed_one_subject ${subjectCheck})`.execute(tx);
    await sql`insert into change_feed_next (seq, key_id, signing_key_id, action, reason, actor_key_id, time, tenant_id)
              select seq, key_id, signing_key_id, action, reason, actor_key_id, time, tenant_id from change_feed`.execute(tx);
    await replaceChangeFeed(tx);
  });
}

/** The WITHOUT ROWID clause at the end of a CREATE TABLE statement in sqlite_master. */
const SQLITE_WITHOUT_ROWID = /\s*without\s+rowid\s*$/i;

/**
 * Copies `keys` into a table made by its own CREATE statement (as every migration's ALTER left it,
 * so no column is restated here) with or without WITHOUT ROWID, in one transaction, in key order,
 * and makes its indexes again. Nothing references `keys`, so the rename leaves no dangling reference.
 */
async function rebuildSqliteKeys(db: Kysely<any>, options: { withoutRowid: boolean }): Promise<void> {
  await db.transaction().execute(async (tx) => {
    const table = (await sql<{ sql: string }>`select sql from sqlite_master where type = 'table' and name = 'keys'`.execute(tx)).rows[0];
    if (!table) throw new Error("no keys table");
    // Already laid out so (0011 no longer rebuilds): nothing to copy.
    if (SQLITE_WITHOUT_ROWID.test(table.sql) === options.withoutRowid) return;
    const indexes = (await sql<{ sql: string }>`select sql from sqlite_master where type = 'index' and tbl_name = 'keys' and sql is not null`.execute(tx)).rows;
    const create = table.sql.replace(/^create table\s+"?keys"?/i, 'create table "keys_next"').replace(SQLITE_WITHOUT_ROWID, "");
    await sql.raw(options.withoutRowid ? `${create} without rowid` : create).execute(tx);
    await sql`insert into keys_next select * from keys order by key_id`.execute(tx);
    await sql`drop table keys`.execute(tx);
    await sql`alter table keys_next rename to keys`.execute(tx);
    for (const index of indexes) await sql.raw(index.sql).execute(tx);
  });
}

/**
 * Replaces issue_requests by a table keyed by (actor_key_id, request_id) or, `byActor` false, by
 * request_id alone, filled by `rows` (a select of the new table's columns, in order, from the old).
 */
async function rebuildIssueRequests(db: Kysely<any>, byActor: boolean, rows: RawBuilder<unknown>): Promise<void> {
  let table = db.schema.createTable("issue_requests_next");
  if (byActor) table = table.addColumn("actor_key_id", "text", (c) => c.notNull());
  table = table
    .addColumn("request_id", "text", (c) => (byActor ? c.notNull() : c.primaryKey()))
    .addColumn("fingerprint", "text", (c) => c.notNull())
    .addColumn("key_id", "text", (c) => c.notNull())
    .addColumn("sealed_secret", "text", (c) => c.notNull())
    .addColumn("expire_time", "bigint", (c) => c.notNull());
  if (byActor) table = table.addPrimaryKeyConstraint("issue_requests_actor_request_pkey", ["actor_key_id", "request_id"] as never);
  await table.execute();
  const columns = `${byActor ? "actor_key_id, " : ""}request_id, fingerprint, key_id, sealed_secret, expire_time`;
  await sql`insert into issue_requests_next (${sql.raw(columns)}) ${rows}`.execute(db);
  await db.schema.dropTable("issue_requests").execute();
  await db.schema.alterTable("issue_requests_next").renameTo("issue_requests").execute();
  await db.schema.createIndex("issue_requests_by_expiry").on("issue_requests").column("expire_time").execute();
}

class CodeMigrationProvider implements MigrationProvider {
  constructor(private readonly dialect: DialectName) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.dialect);
  }
}

/** Migrates to exactly `target` (up or down): for tests of a migration against an older schema. */
export async function migrateTo(db: Kysely<any>, dialect: DialectName, target: string): Promise<void> {
  const { error } = await new Migrator({ db, provider: new CodeMigrationProvider(dialect) }).migrateTo(target);
  if (error) throw error;
}

/** Brings the schema up to date; throws with the failing migration's name. */
export async function migrateToLatest(db: Kysely<any>, dialect: DialectName): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new CodeMigrationProvider(dialect) });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === "Error");
  if (error) throw new Error(`migration ${failed?.migrationName ?? "(unknown)"} failed: ${(error as Error).message ?? String(error)}`);
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}

