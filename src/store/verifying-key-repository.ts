import { CompiledQuery } from "kysely";
import { networksOfColumn, usageControlsOfRow } from "../keys/key-record.js";
import type { VerifyingKey } from "../keys/verifying-key.js";
import type { ArrayRowStatement } from "./array-row-statements.js";
import type { DialectName, SigilDb } from "./database.js";

// The cache miss of every verification: only the columns a VerifyingKey is made of, by primary
// key, as an array row (no object of 33 properties per read; see array-row-statements.ts).
// Booleans computed in SQL where verification needs no more than that (is the secret imported?).
const COLUMNS = [
  `"key_id"`,
  `"owner"`,
  `"tenant_id"`,
  `"scopes"`,
  `"metadata"`,
  `"secret_hash"`,
  `"hash_version"`,
  `"lookup_hash" is not null`,
  `"expire_time"`,
  `"revoke_time"`,
  `"enabled"`,
  `"previous_secret_hash"`,
  `"previous_hash_version"`,
  `"previous_lookup_hash" is not null`,
  `"previous_secret_expire_time"`,
  `"rate_limit_requests"`,
  `"rate_limit_window_ms"`,
  `"rate_limit_burst"`,
  `"credits_remaining"`,
  `"credits_refill_amount"`,
  `"credits_refill_interval_ms"`,
  `"credits_refill_time"`,
  `"allowed_networks"`,
].join(", ");

export const VERIFYING_KEY_STATEMENT: ArrayRowStatement = {
  name: "sigil_verifying_key",
  sql: {
    sqlite: `select ${COLUMNS} from "keys" where "key_id" = ?`,
    postgres: `select ${COLUMNS} from "keys" where "key_id" = $1`,
  },
};

/** One row of VERIFYING_KEY_STATEMENT, in select-list order (SQLite answers 0/1 where PostgreSQL answers booleans). */
type VerifyingKeyRow = [
  keyId: string,
  owner: string,
  tenantId: string,
  scopes: string,
  metadata: string,
  secretHash: string,
  hashVersion: number,
  secretImported: number | boolean,
  expireTime: number | null,
  revokeTime: number | null,
  enabled: number,
  previousHash: string | null,
  previousHashVersion: number | null,
  previousImported: number | boolean,
  previousExpireTime: number | null,
  rateLimitRequests: number | null,
  rateLimitWindowMs: number | null,
  rateLimitBurst: number | null,
  creditsRemaining: number | null,
  creditsRefillAmount: number | null,
  creditsRefillIntervalMs: number | null,
  creditsRefillTime: number | null,
  allowedNetworks: string | null,
];

const QUERIES: Readonly<Record<DialectName, CompiledQuery<VerifyingKeyRow>>> = {
  sqlite: CompiledQuery.raw(VERIFYING_KEY_STATEMENT.sql.sqlite, []),
  postgres: CompiledQuery.raw(VERIFYING_KEY_STATEMENT.sql.postgres, []),
};

/** The verifying part of a key, or undefined when there is no such key. */
export async function findVerifyingKey(db: SigilDb, dialect: DialectName, keyId: string): Promise<VerifyingKey | undefined> {
  const result = await db.executeQuery<VerifyingKeyRow>({ ...QUERIES[dialect], parameters: [keyId] });
  const row = result.rows[0];
  if (row === undefined) return undefined;
  // A database not opened by openDatabase would answer objects: fail loudly, never read garbage.
  if (!Array.isArray(row)) throw new Error("the verifying-key statement answered an object row: open the database with openDatabase");
  return verifyingKeyOfRow(row);
}

function verifyingKeyOfRow(row: VerifyingKeyRow): VerifyingKey {
  const previousHash = row[11];
  const previousExpireTime = row[14];
  const usage = usageControlsOfRow({
    rate_limit_requests: row[15],
    rate_limit_window_ms: row[16],
    rate_limit_burst: row[17],
    credits_remaining: row[18],
    credits_refill_amount: row[19],
    credits_refill_interval_ms: row[20],
    credits_refill_time: row[21],
  });
  // Property order as verifyingKeyOf's, so cached keys of both origins share one shape.
  return {
    keyId: row[0],
    owner: row[1],
    tenantId: row[2],
    scopes: JSON.parse(row[3]) as string[],
    metadata: JSON.parse(row[4]) as Record<string, string>,
    secretHash: Buffer.from(row[5], "base64"),
    hashVersion: Number(row[6]),
    secretImported: !!row[7],
    expireTime: row[8] === null ? null : Number(row[8]),
    revokeTime: row[9] === null ? null : Number(row[9]),
    enabled: Number(row[10]) !== 0,
    previousSecret:
      previousHash === null || previousExpireTime === null
        ? null
        : { hash: Buffer.from(previousHash, "base64"), hashVersion: Number(row[12]), imported: !!row[13], expireTime: Number(previousExpireTime) },
    rateLimit: usage.rateLimit,
    credits: usage.credits,
    allowedNetworks: networksOfColumn(row[22]),
  };
}
