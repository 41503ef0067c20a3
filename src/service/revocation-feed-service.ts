import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { VerifyingKey } from "../keys/verifying-key.js";
import { feedHorizon, latestChangeSeq } from "../store/change-feed-repository.js";
import type { SigilDb } from "../store/database.js";
import {
  readKeysRevokedSince,
  readSigningKeyChangesSince,
  readWatchedChangesBetween,
  type RevocationRow,
  type SigningKeyChangeRow,
  type WatchedChangeRow,
} from "../store/revocation-repository.js";
import { SigningKeyChangeSchema, SigningKeyState, type SigningKeyChange } from "../../clients/typescript/src/gen/sigil/v1/signing_key_pb.js";
import {
  RevocationSchema,
  WatchRevocationsResponseSchema,
  type Revocation,
  type WatchRevocationsRequest,
  type WatchRevocationsResponse,
} from "../../clients/typescript/src/gen/sigil/v1/revocation_pb.js";
import type { CallContext } from "./call-context.js";
import { FeedWakeup } from "./feed-wakeup.js";
import { durationMs, invalid, timestampMs } from "./request-validation.js";
import { decodeRevocationCursor, encodeRevocationCursor } from "./revocation-cursor.js";
import type { VerifierAuthorizer } from "./verifier-auth.js";
import { reaches } from "../tenants/tenant-access.js";

/** What a stream hears of each batch of changes the follower applied. */
export interface AppliedChanges {
  /** The keys changed (any mutation: issue, update, rotate, revoke, import; null for a signing-key change). */
  readonly changes: ReadonlyArray<{ readonly key_id: string | null }>;
  /** The follower fell behind the feed's retention and dropped its whole cache. */
  readonly reset: boolean;
}

/** What the service needs of the process's change-feed follower. */
export interface ChangeFeedPosition {
  /** Seq of the newest change this process has applied; every change up to it is readable. */
  readonly lastSeq: number;
  /**
   * Calls `listener` after the follower applied new changes (its key cache already forgot the
   * changed keys, so a re-check reads them afresh); returns the unsubscribe function.
   */
  onChanges(listener: (update: AppliedChanges) => void): () => void;
}

export interface RevocationFeedDeps {
  readonly db: SigilDb;
  readonly feed: ChangeFeedPosition;
  readonly auth: VerifierAuthorizer;
  readonly now: () => number;
  /** Most watch streams open at once in this process (default 1000). */
  readonly maxStreams?: number;
  /** Most watch streams one key may hold open at once in this process (default 8). */
  readonly maxStreamsPerKey?: number;
}

/** Revocations per response (the proto comment says the same). */
export const REVOCATION_BATCH = 500;
const HEARTBEAT = { defaultMs: 15_000, minMs: 200, maxMs: 300_000 } as const;
const MAX_START_AGE_MS = 30 * 86_400_000;
// A client clock slightly ahead of ours must not make "now minus the token lifetime" invalid.
const START_TIME_SKEW_MS = 60_000;

type Start = { kind: "now" } | { kind: "cursor"; seq: number } | { kind: "time"; sinceMs: number };

/**
 * WatchRevocations: a server stream of revocations read from the change feed. Streams sleep until
 * the follower applies new changes (no polling loop of their own); streams at the same position
 * share one read. `close()` ends every stream with UNAVAILABLE so a graceful shutdown does not
 * wait for them, and their clients resume elsewhere with their cursor.
 *
 * Bounds: streams per process, and streams per key, so that one verifier key cannot take every
 * stream of a process. A stream is authorized as long as it runs: when the follower applies a
 * change to its key (made on any process) or the key's credential reaches its end of life, the
 * stream re-checks it, and ends with PERMISSION_DENIED once the key is revoked, disabled, expired,
 * rotated away from the presented secret or no longer holds the scope.
 */
export class RevocationFeedService {
  readonly #d: RevocationFeedDeps;
  readonly #maxStreams: number;
  readonly #maxStreamsPerKey: number;
  readonly #streams = new Set<AbortController>();
  /** Open streams per key id (entries removed at zero). */
  readonly #streamsPerKey = new Map<string, number>();
  readonly #sharedReads = new Map<string, Promise<WatchedChangeRow[]>>();
  #sharedProbe: Promise<unknown> | undefined;
  #closed = false;

  constructor(deps: RevocationFeedDeps) {
    this.#d = deps;
    this.#maxStreams = deps.maxStreams ?? 1000;
    this.#maxStreamsPerKey = deps.maxStreamsPerKey ?? 8;
  }

  /** WatchRevocations streams open now in this process. */
  get openStreams(): number {
    return this.#streams.size;
  }

  /** Ends every open stream (UNAVAILABLE) and refuses new ones. */
  close(): void {
    this.#closed = true;
    for (const stream of this.#streams) stream.abort();
  }

  async *watchRevocations(req: WatchRevocationsRequest, ctx: CallContext): AsyncGenerator<WatchRevocationsResponse> {
    if (this.#closed) throw shuttingDown();
    const watcher = await this.#d.auth.requireVerifier(ctx);
    const keyId = watcher.keyId;
    ctx.keyId = keyId;
    // A verify key of a tenant sees its tenant's revocations only; one of `default`, every tenant's.
    const sees = (row: RevocationRow) => reaches(watcher, row.tenantId);
    const heartbeatMs = req.heartbeatInterval === undefined ? HEARTBEAT.defaultMs : durationMs(req.heartbeatInterval, "heartbeat_interval", HEARTBEAT.minMs, HEARTBEAT.maxMs);
    const start = this.#parseStart(req);
    if (this.#streams.size >= this.#maxStreams) {
      throw new ConnectError(`too many WatchRevocations streams open on this server (${this.#maxStreams})`, Code.ResourceExhausted);
    }
    const ofKey = this.#streamsPerKey.get(keyId) ?? 0;
    if (ofKey >= this.#maxStreamsPerKey) {
      throw new ConnectError(`key ${keyId} already holds ${ofKey} WatchRevocations streams on this server (the most one key may open); close one first`, Code.ResourceExhausted);
    }
    this.#streamsPerKey.set(keyId, ofKey + 1);
    const stream = new AbortController();
    const onCancel = () => stream.abort();
    ctx.signal.addEventListener("abort", onCancel, { once: true });
    if (ctx.signal.aborted) stream.abort();
    this.#streams.add(stream);
    const wakeup = new FeedWakeup();
    const authorization = new StreamAuthorization(watcher, () => this.#d.auth.requireVerifier(ctx), this.#d.now);
    const unsubscribe = this.#d.feed.onChanges((update) => {
      if (update.reset || update.changes.some((c) => c.key_id === keyId)) authorization.changed();
      wakeup.notify();
    });
    try {
      yield* this.#stream(start, authorization, heartbeatMs, wakeup, stream.signal, sees);
      if (this.#closed) throw shuttingDown();
    } finally {
      unsubscribe();
      this.#streams.delete(stream);
      const left = (this.#streamsPerKey.get(keyId) ?? 1) - 1;
      if (left > 0) this.#streamsPerKey.set(keyId, left);
      else this.#streamsPerKey.delete(keyId);
      ctx.signal.removeEventListener("abort", onCancel);
    }
  }

  #parseStart(req: WatchRevocationsRequest): Start {
    switch (req.start.case) {
      case "cursor":
        return { kind: "cursor", seq: decodeRevocationCursor(req.start.value) };
      case "startTime": {
        const sinceMs = timestampMs(req.start.value, "start_time");
        const now = this.#d.now();
        if (!Number.isFinite(sinceMs) || sinceMs < now - MAX_START_AGE_MS || sinceMs > now + START_TIME_SKEW_MS) {
          throw invalid("start_time: must be within the last 30 days and not in the future");
        }
        return { kind: "time", sinceMs };
      }
      default:
        return { kind: "now" };
    }
  }

  async *#stream(
    start: Start,
    authorization: StreamAuthorization,
    heartbeatMs: number,
    wakeup: FeedWakeup,
    signal: AbortSignal,
    sees: (row: RevocationRow) => boolean,
  ): AsyncGenerator<WatchRevocationsResponse> {
    const feed = this.#d.feed;
    let seq: number;
    // -Infinity: the first response goes out at once, so the caller knows the stream is live.
    let sentAt = -Infinity;
    if (start.kind === "cursor") {
      seq = start.seq;
      await this.#requireCursorInFeed(seq);
    } else {
      // Snapshot first: a revocation committed after it comes from the feed (perhaps also from the
      // replay below; a repeat is harmless), one committed before it is in the keys table.
      seq = feed.lastSeq;
      if (start.kind === "time") {
        // Signing keys made or revoked since then ride on the first page (there are few).
        let signingKeyChanges = (await readSigningKeyChangesSince(this.#d.db, start.sinceMs)).map(toSigningKeyChange);
        for await (const page of this.#replay(start.sinceMs, signal)) {
          // Mid-replay responses carry no cursor: resuming from the snapshot would skip the rest.
          // Filtered after paging, so the cursor decision sees the whole page.
          yield response(page.filter(sees).map(toRevocation), page.length === REVOCATION_BATCH ? "" : encodeRevocationCursor(seq), signingKeyChanges);
          signingKeyChanges = [];
          sentAt = this.#d.now();
          if (signal.aborted) return;
        }
      }
    }
    for (;;) {
      // Taken together: a change to the stream's key is applied through `upTo` once it is pending.
      const upTo = feed.lastSeq;
      const recheck = authorization.takePending(this.#d.now());
      while (seq < upTo) {
        const rows = await this.#readShared(seq, upTo);
        const end = rows.length === REVOCATION_BATCH ? rows[rows.length - 1]!.seq : upTo;
        if (rows.length > 0) {
          yield response(rows.filter(isRevocation).filter(sees).map(toRevocation), encodeRevocationCursor(end), rows.filter(isSigningKeyChange).map(toSigningKeyChange));
          sentAt = this.#d.now();
        }
        seq = end;
        if (signal.aborted) return;
      }
      // After the news up to the change is sent (a revocation of the stream's own key included).
      if (recheck) await authorization.recheck();
      const now = this.#d.now();
      if (now - sentAt >= heartbeatMs) {
        // A heartbeat vouches that nothing was missed, which holds only while this process reaches
        // the database (else its follower is stuck): if it cannot, the stream fails and the client
        // reconnects elsewhere or, past its staleness bound, fails closed.
        await this.#probeDatabase();
        yield response([], encodeRevocationCursor(seq));
        sentAt = this.#d.now();
      }
      const wakeAt = Math.min(sentAt + heartbeatMs, authorization.validUntil);
      const woke = await wakeup.wait(wakeAt - this.#d.now(), signal);
      if (woke === "aborted") return;
    }
  }

  /** Pages of keys revoked since `sinceMs`, from the keys table (complete whatever the feed retention). */
  async *#replay(sinceMs: number, signal: AbortSignal): AsyncGenerator<RevocationRow[]> {
    let after: { time: number; keyId: string } | undefined;
    for (;;) {
      const rows = await readKeysRevokedSince(this.#d.db, sinceMs, after, REVOCATION_BATCH);
      yield rows;
      const last = rows[rows.length - 1];
      if (rows.length < REVOCATION_BATCH || !last || signal.aborted) return;
      after = { time: last.time, keyId: last.keyId };
    }
  }

  /** One cheap query shared by every stream that heartbeats at the same moment. */
  #probeDatabase(): Promise<unknown> {
    this.#sharedProbe ??= latestChangeSeq(this.#d.db).finally(() => (this.#sharedProbe = undefined));
    return this.#sharedProbe;
  }

  async #requireCursorInFeed(seq: number): Promise<void> {
    const [horizon, latest] = await Promise.all([feedHorizon(this.#d.db), latestChangeSeq(this.#d.db)]);
    if (seq < horizon) throw cursorTooOld();
    if (seq > latest) {
      throw new ConnectError("cursor is ahead of this server's change feed (from another deployment?); resync with start_time", Code.FailedPrecondition);
    }
  }

  /**
   * Reads revocations and signing-key changes in (afterSeq, upToSeq]; streams at the same position share the read. The
   * horizon is read after the rows: if pruning had removed rows past afterSeq before the read, the
   * horizon already shows it, and the stream must resync rather than silently skip them.
   */
  #readShared(afterSeq: number, upToSeq: number): Promise<WatchedChangeRow[]> {
    const key = `${afterSeq}:${upToSeq}`;
    let read = this.#sharedReads.get(key);
    if (!read) {
      read = (async () => {
        const rows = await readWatchedChangesBetween(this.#d.db, afterSeq, upToSeq, REVOCATION_BATCH);
        if ((await feedHorizon(this.#d.db)) > afterSeq) throw cursorTooOld();
        return rows;
      })().finally(() => this.#sharedReads.delete(key));
      this.#sharedReads.set(key, read);
    }
    return read;
  }
}

/**
 * Whether one stream's key still authorizes it. A change to the key marks it for a re-check, and
 * so does reaching the end of the credential's life (its expiry, or the end of the grace period of
 * a rotated-away secret it may have been opened with).
 */
class StreamAuthorization {
  #record: VerifyingKey;
  #checkedAt: number;
  #pending = false;
  readonly #check: () => Promise<VerifyingKey>;
  readonly #now: () => number;

  constructor(record: VerifyingKey, check: () => Promise<VerifyingKey>, now: () => number) {
    this.#record = record;
    this.#check = check;
    this.#now = now;
    this.#checkedAt = now();
  }

  /** When the stream must check its key again even if nothing changes (ms; Infinity for never). */
  get validUntil(): number {
    // Only ends still ahead of the last check: a grace period that had ended then is no concern.
    const ends = [this.#record.expireTime, this.#record.previousSecret?.expireTime].filter((t): t is number => typeof t === "number" && t > this.#checkedAt);
    return Math.min(Infinity, ...ends);
  }

  changed(): void {
    this.#pending = true;
  }

  /** Whether a re-check is due now; clears the mark. */
  takePending(now: number): boolean {
    const due = this.#pending || now >= this.validUntil;
    this.#pending = false;
    return due;
  }

  /** Checks the key again (its record read afresh); throws PERMISSION_DENIED once it may no longer watch. */
  async recheck(): Promise<void> {
    try {
      const checkedAt = this.#now();
      this.#record = await this.#check();
      this.#checkedAt = checkedAt;
    } catch (err) {
      const why = err instanceof ConnectError ? err.rawMessage : "its key could not be checked";
      if (err instanceof ConnectError && err.code === Code.Unavailable) throw err;
      throw new ConnectError(`the key of this WatchRevocations stream may no longer watch: ${why}`, Code.PermissionDenied);
    }
  }
}

function response(revocations: Revocation[], cursor: string, signingKeyChanges: SigningKeyChange[] = []): WatchRevocationsResponse {
  return create(WatchRevocationsResponseSchema, { revocations, cursor, signingKeyChanges });
}

const isRevocation = (row: WatchedChangeRow): row is RevocationRow => "keyId" in row;
const isSigningKeyChange = (row: WatchedChangeRow): row is SigningKeyChangeRow => "kid" in row;

const SIGNING_KEY_STATE_AFTER: Record<SigningKeyChangeRow["action"], SigningKeyState> = {
  signing_key_add: SigningKeyState.ACTIVE,
  signing_key_retire: SigningKeyState.RETIRED,
  signing_key_revoke: SigningKeyState.REVOKED,
};

function toSigningKeyChange(row: SigningKeyChangeRow): SigningKeyChange {
  return create(SigningKeyChangeSchema, { kid: row.kid, state: SIGNING_KEY_STATE_AFTER[row.action], changeTime: timestampFromMs(row.time) });
}

function toRevocation(row: RevocationRow): Revocation {
  return create(RevocationSchema, { keyId: row.keyId, revokeTime: timestampFromMs(row.time), reason: row.reason });
}

function cursorTooOld(): ConnectError {
  return new ConnectError("cursor is older than the change feed's retention; resync with start_time", Code.FailedPrecondition);
}

function shuttingDown(): ConnectError {
  return new ConnectError("server is shutting down; reconnect (to another instance) with the last cursor", Code.Unavailable);
}
