import type { AccessNeed } from "../tenants/tenant-access.js";

/**
 * Who makes a mutation: the key id the pre-check authorized, and the credential it presented,
 * which the mutation's transaction checks again against the row it reads (actor-recheck.ts).
 * `need` is what the call needs of it (role, tenant, grants), checked again there from the row.
 * The credential sits in a private field, so logging or serializing an actor never shows it.
 */
export class MutationActor {
  readonly keyId: string;
  readonly need: AccessNeed;
  readonly #credential: string;

  constructor(keyId: string, credential: string, need: AccessNeed) {
    this.keyId = keyId;
    this.#credential = credential;
    this.need = need;
  }

  /** The same actor, also granting `grants` (IssueKey: checked with the role in the transaction). */
  granting(grants: readonly string[]): MutationActor {
    return new MutationActor(this.keyId, this.#credential, { ...this.need, grants });
  }

  credential(): string {
    return this.#credential;
  }

  /** Same key, credential and need: one check in the transaction answers for both. */
  sameAs(other: MutationActor): boolean {
    return this.keyId === other.keyId && this.#credential === other.#credential && JSON.stringify(this.need) === JSON.stringify(other.need);
  }
}
