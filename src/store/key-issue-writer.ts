import type { AuditEntry } from "./audit-repository.js";
import { appendAuditEvents } from "./audit-repository.js";
import { appendChanges } from "./change-feed-repository.js";
import type { SigilDb } from "./database.js";
import { insertIssueRequests } from "./issue-request-repository.js";
import { insertKeys } from "./key-repository.js";
import type { NewChangeRow } from "./tables/change-feed-table.js";
import type { NewIssueRequestRow } from "./tables/issue-requests-table.js";
import type { NewKeyRow } from "./tables/keys-table.js";

/** Everything one IssueKey writes, atomically. */
export interface KeyIssueWrite {
  readonly key: NewKeyRow;
  readonly change: NewChangeRow;
  readonly audit: AuditEntry;
  readonly issueRequest?: NewIssueRequestRow;
}

interface Pending {
  readonly write: KeyIssueWrite;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Group commit for IssueKey. Issues that arrive while a commit is being prepared share one
 * transaction of multi-row INSERTs: one commit (and one statement per table) instead of one per
 * key. Each key's rows are still all-or-nothing. When a batch fails, its writes are retried one
 * per transaction, so only the write at fault (a reused request id, say) fails.
 */
export class KeyIssueWriter {
  readonly #db: SigilDb;
  readonly #maxBatch: number;
  #pending: Pending[] = [];
  #scheduled = false;

  constructor(db: SigilDb, options: { maxBatch?: number } = {}) {
    this.#db = db;
    // 256 rows of the widest table stay far below SQLite's and PostgreSQL's bound-parameter limits.
    this.#maxBatch = options.maxBatch ?? 256;
  }

  /** Resolves once the write is committed; rejects with the write's own error. */
  write(write: KeyIssueWrite): Promise<void> {
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
    if (batch.length > 0) void this.#commit(batch);
  }

  async #commit(batch: Pending[]): Promise<void> {
    try {
      await this.#transaction(batch.map((p) => p.write));
      for (const p of batch) p.resolve();
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      for (const p of batch) {
        await this.#transaction([p.write]).then(p.resolve, p.reject);
      }
    }
  }

  async #transaction(writes: KeyIssueWrite[]): Promise<void> {
    await this.#db.transaction().execute(async (tx) => {
      await insertKeys(tx, writes.map((w) => w.key));
      await appendChanges(tx, writes.map((w) => w.change));
      await appendAuditEvents(tx, writes.map((w) => w.audit));
      await insertIssueRequests(tx, writes.flatMap((w) => (w.issueRequest ? [w.issueRequest] : [])));
    });
  }
}
