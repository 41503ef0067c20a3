/**
 * Who makes a mutation: the key id the pre-check authorized, and the credential it presented,
 * which the mutation's transaction checks again against the row it reads (actor-recheck.ts).
 * The credential sits in a private field, so logging or serializing an actor never shows it.
 */
export class MutationActor {
  readonly keyId: string;
  readonly #credential: string;

  constructor(keyId: string, credential: string) {
    this.keyId = keyId;
    this.#credential = credential;
  }

  credential(): string {
    return this.#credential;
  }

  /** Same key and same credential: one check in the transaction answers for both. */
  sameAs(other: MutationActor): boolean {
    return this.keyId === other.keyId && this.#credential === other.#credential;
  }
}
