import type { Kysely, Transaction } from "kysely";
import type { Database } from "./database.js";
import type { KeyRowUpdate } from "./tables/keys-table.js";

type Db = Kysely<Database> | Transaction<Database>;

/** Changes columns of a key that is not revoked; returns whether a row changed. */
export async function updateUnrevokedKey(db: Db, keyId: string, set: KeyRowUpdate): Promise<boolean> {
  const result = await db.updateTable("keys").set(set).where("key_id", "=", keyId).where("revoke_time", "is", null).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/**
 * Replaces the secret of a key that is not revoked, only if its current secret is still
 * `expectedSecretHash` (two concurrent rotations: one wins, the other changes nothing).
 */
export async function replaceKeySecret(db: Db, keyId: string, expectedSecretHash: string, set: KeyRowUpdate): Promise<boolean> {
  const result = await db
    .updateTable("keys")
    .set(set)
    .where("key_id", "=", keyId)
    .where("revoke_time", "is", null)
    .where("secret_hash", "=", expectedSecretHash)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Key ids holding any of these lookup hashes as current or previous secret. */
export async function findKeysByLookupHashes(db: Db, hashes: readonly string[]): Promise<Array<{ key_id: string; tenant_id: string; lookup_hash: string | null; previous_lookup_hash: string | null }>> {
  const found: Array<{ key_id: string; tenant_id: string; lookup_hash: string | null; previous_lookup_hash: string | null }> = [];
  // Chunked: SQLite allows a bounded number of bound parameters per statement.
  for (let i = 0; i < hashes.length; i += 400) {
    const chunk = hashes.slice(i, i + 400);
    const rows = await db
      .selectFrom("keys")
      .select(["key_id", "tenant_id", "lookup_hash", "previous_lookup_hash"])
      .where((eb) => eb.or([eb("lookup_hash", "in", chunk), eb("previous_lookup_hash", "in", chunk)]))
      .execute();
    found.push(...rows);
  }
  return found;
}

/** Re-hashes an imported key's current secret under a newer server-secret version (re-hash on use). */
export async function updateLookupHash(db: Db, keyId: string, oldVersion: number, lookupHash: string, hashVersion: number): Promise<void> {
  await db
    .updateTable("keys")
    .set({ secret_hash: lookupHash, lookup_hash: lookupHash, hash_version: hashVersion })
    .where("key_id", "=", keyId)
    .where("hash_version", "=", oldVersion)
    .where("lookup_hash", "is not", null)
    .execute();
}
