import type { ConnectError } from "@connectrpc/connect";
import type { Transaction } from "kysely";
import { recordFromRow } from "../keys/key-record.js";
import type { Database, DialectName } from "../store/database.js";
import { findKeyLocked, type RowLock } from "../store/key-repository.js";
import { findLiveTenant } from "../store/tenant-repository.js";
import { DEFAULT_TENANT, tenantNotFound } from "../tenants/tenant-id.js";
import type { KeyRecord } from "../keys/key-record.js";
import { adminRefusal } from "./admin-auth.js";
import type { CredentialVerifier } from "./credential-verifier.js";
import type { MutationActor } from "./mutation-actor.js";

/**
 * Authorizes a mutation's write inside the mutation's own transaction. The pre-check before the
 * transaction (AdminAuthorizer) reads this process's key cache, which may be one change-feed
 * window behind another process's RevokeKey or UpdateKey; the write is authorized only here, from
 * the actor's row as this transaction reads it: unrevoked, enabled, unexpired, the presented
 * secret still its own, still holding the role its call needs over the tenant it acts in (from the
 * row, not the cache), and that tenant not deleted. Otherwise the mutation fails the way
 * the pre-check would have (UNAUTHENTICATED / PERMISSION_DENIED) and writes nothing.
 *
 * The read must also hold until commit, so that once RevokeKey has returned no later mutation by
 * that key commits. PostgreSQL (READ COMMITTED): the actor row is read FOR SHARE, so a revocation
 * that updates it waits for this transaction to commit, or this read waits for the revocation to
 * commit and then sees the revoked row. SQLite: write transactions begin IMMEDIATE (they hold the
 * database's write lock from the first statement), so nothing commits between the check and the write.
 */
export class ActorRecheck {
  readonly #verifier: CredentialVerifier;
  readonly #dialect: DialectName;
  readonly #now: () => number;

  constructor(deps: { verifier: CredentialVerifier; dialect: DialectName; now: () => number }) {
    this.#verifier = deps.verifier;
    this.#dialect = deps.dialect;
    this.#now = deps.now;
  }

  /**
   * Throws unless `actor` may still act as an admin. `changesActor`: this transaction will update
   * the actor's own row (an admin updating its own key), so lock it for update from the start;
   * taking a share lock and then upgrading it could deadlock with a second such transaction.
   */
  async requireAdmin(tx: Transaction<Database>, actor: MutationActor, options: { changesActor?: boolean } = {}): Promise<KeyRecord> {
    const records = new Map<MutationActor, KeyRecord>();
    const refusal = (await this.refusals(tx, [actor], options.changesActor ? "update" : "share", records)).get(actor);
    if (refusal) throw refusal;
    // The actor's row as this transaction read it: callers decide tenant reach of objects from it.
    return records.get(actor)!;
  }

  /**
   * Checks every distinct actor of a group of writes (group commit of IssueKey) and returns the
   * refusal of each actor that may not write; the writes of the others go ahead. One locked read
   * per distinct key, in key order (so two such transactions lock rows in the same order).
   */
  async refusals(
    tx: Transaction<Database>,
    actors: readonly MutationActor[],
    lock: "share" | "update" = "share",
    records?: Map<MutationActor, KeyRecord>,
  ): Promise<Map<MutationActor, ConnectError>> {
    const refused = new Map<MutationActor, ConnectError>();
    const byKey = new Map<string, MutationActor[]>();
    for (const actor of actors) {
      const group = byKey.get(actor.keyId);
      if (!group) byKey.set(actor.keyId, [actor]);
      else group.push(actor);
    }
    const rowLock: RowLock = this.#dialect === "postgres" ? lock : "none";
    for (const keyId of [...byKey.keys()].sort()) {
      const row = await findKeyLocked(tx, keyId, rowLock);
      const record = row ? recordFromRow(row) : undefined;
      const now = this.#now();
      // Actors of one key usually present one credential: check each distinct one once.
      const decided: Array<{ actor: MutationActor; refusal: ConnectError | undefined }> = [];
      for (const actor of byKey.get(keyId)!) {
        let refusal = decided.find((d) => d.actor.sameAs(actor));
        if (!refusal) {
          refusal = { actor, refusal: adminRefusal(this.#verifier.checkApiKeyAgainst(actor.credential(), record, now), actor.need) };
          const tenantId = actor.need.tenantId;
          if (!refusal.refusal && tenantId !== undefined && tenantId !== DEFAULT_TENANT && !(await findLiveTenant(tx, tenantId))) {
            refusal = { actor, refusal: tenantNotFound(tenantId) };
          }
          decided.push(refusal);
        }
        if (refusal.refusal) refused.set(actor, refusal.refusal);
        else if (record) records?.set(actor, record);
      }
    }
    return refused;
  }
}
