import type { Transaction } from "kysely";
import type { AuditEntry } from "./audit-repository.js";
import { appendAuditEvents } from "./audit-repository.js";
import { appendChanges } from "./change-feed-repository.js";
import type { Database, SigilDb } from "./database.js";
import { deleteExpiredIssueRequestsFor, insertIssueRequests } from "./issue-request-repository.js";
import { insertKeys } from "./key-repository.js";
import type { NewChangeRow } from "./tables/change-feed-table.js";
import type { NewIssueRequestRow } from "./tables/issue-requests-table.js";
import type { NewKeyRow } from "./tables/keys-table.js";

/** Everything one IssueKey writes, atomically, and who writes it (undefined: the server itself). */
export interface KeyIssueWrite<A> {
  readonly key: NewKeyRow;
  readonly change: NewChangeRow;
  readonly audit: AuditEntry;
  readonly issueRequest?: NewIssueRequestRow;
  readonly actor?: A;
}

/**
 * Authorizes the actors of a batch inside its transaction: returns the error of each actor that
 * may not write (its writes fail with it, and are not written); the others' writes go ahead.
 */
export type ActorCheck<A> = (tx: Transaction<Database>, actors: readonly A[]) => Promise<ReadonlyMap<A, Error>>;

/**
 * Checks the writes whose actors passed, inside the batch's transaction (tenant policies): returns
 * the error of each write that may not be written; the others go ahead.
 */
export type WriteCheck<A> = (tx: Transaction<Database>, writes: ReadonlyArray<KeyIssueWrite<A>>) => Promise<ReadonlyMap<KeyIssueWrite<A>, Error>>;

interface Pending<A> {
  readonly write: KeyIssueWrite<A>;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Group commit for IssueKey. Issues that arrive while a commit is being prepared share one
 * transaction of multi-row INSERTs: one commit (and one statement per table) instead of one per
 * key. Each key's rows are still all-or-nothing, and each write's actor is checked inside the
 * transaction that writes it. When a batch fails, its writes are retried one per transaction, so
 * only the write at fault (a reused request id, say) fails.
 */
export class KeyIssueWriter<A> {
  readonly #db: SigilDb;
  readonly #maxBatch: number;
  readonly #checkActors: ActorCheck<A>;
  readonly #onBatch: ((size: number) => void) | undefined;
  readonly #checkWrites: WriteCheck<A> | undefined;
  #pending: Array<Pending<A>> = [];
  #scheduled = false;

  /** `onBatch` hears the size of each batch committed together (metrics). */
  constructor(db: SigilDb, options: { maxBatch?: number; checkActors: ActorCheck<A>; checkWrites?: WriteCheck<A>; onBatch?: (size: number) => void }) {
    this.#db = db;
    // 256 rows of the widest table stay far below SQLite's and PostgreSQL's bound-parameter limits.
    this.#maxBatch = options.maxBatch ?? 256;
    this.#checkActors = options.checkActors;
    this.#onBatch = options.onBatch;
    this.#checkWrites = options.checkWrites;
  }

  /** Resolves once the write is committed; rejects with the write's own error (its actor's refusal, say). */
  write(write: KeyIssueWrite<A>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ write, resolve, reject });
      if (this.#pending.length >= this.#maxBatch) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        // After the current I/O callbacks, so calls that arrived together commit together.
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length > 0) {
      this.#onBatch?.(batch.length);
      void this.#commit(batch);
    }
  }

  async #commit(batch: Array<Pending<A>>): Promise<void> {
    let refused: Refusals<A>;
    try {
      refused = await this.#transaction(batch.map((p) => p.write));
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      for (const p of batch) {
        await this.#transaction([p.write]).then((one) => settle(p, one), p.reject);
      }
      return;
    }
    for (const p of batch) settle(p, refused);
  }

  /** Writes the writes whose actors and contents pass the checks; returns the refusals. */
  async #transaction(writes: ReadonlyArray<KeyIssueWrite<A>>): Promise<Refusals<A>> {
    return this.#db.transaction().execute(async (tx) => {
      const actors = [...new Set(writes.flatMap((w) => (w.actor === undefined ? [] : [w.actor])))];
      const refused = actors.length > 0 ? await this.#checkActors(tx, actors) : new Map<A, Error>();
      const byActor = writes.filter((w) => w.actor === undefined || !refused.has(w.actor));
      const refusedWrites = this.#checkWrites && byActor.length > 0 ? await this.#checkWrites(tx, byActor) : new Map<KeyIssueWrite<A>, Error>();
      const allowed = byActor.filter((w) => !refusedWrites.has(w));
      if (allowed.length > 0) {
        await insertKeys(tx, allowed.map((w) => w.key));
        await appendChanges(tx, allowed.map((w) => w.change));
        await appendAuditEvents(tx, allowed.map((w) => w.audit));
        const requests = allowed.filter((w) => w.issueRequest !== undefined);
        if (requests.length > 0) {
          // Expired records of the same request ids give way, as of the earliest write's time.
          const now = Math.min(...requests.map((w) => w.change.time));
          await deleteExpiredIssueRequestsFor(tx, requests.map((w) => w.issueRequest!), now);
          await insertIssueRequests(tx, requests.map((w) => w.issueRequest!));
        }
      }
      return { actors: refused, writes: refusedWrites };
    });
  }
}

interface Refusals<A> {
  readonly actors: ReadonlyMap<A, Error>;
  readonly writes: ReadonlyMap<KeyIssueWrite<A>, Error>;
}

function settle<A>(p: Pending<A>, refused: Refusals<A>): void {
  const refusal = (p.write.actor === undefined ? undefined : refused.actors.get(p.write.actor)) ?? refused.writes.get(p.write);
  if (refusal) p.reject(refusal);
  else p.resolve();
}
