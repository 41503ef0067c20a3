import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { KeyRecord } from "../keys/key-record.js";
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
import { SigningKeyChangeSchema, SigningKeyState, type SigningKeyChange } from "../../gen/sigil/v1/signing_key_pb.js";
import {
  RevocationSchema,
  WatchRevocationsResponseSchema,
  type Revocation,
  type WatchRevocationsRequest,
  type WatchRevocationsResponse,
} from "../../gen/sigil/v1/revocation_pb.js";
import type { CallContext } from "./call-context.js";
import { FeedWakeup } from "./feed-wakeup.js";
import { durationMs, invalid, timestampMs } from "./request-validation.js";
import { decodeRevocationCursor, encodeRevocationCursor } from "./revocation-cursor.js";
import type { VerifierAuthorizer } from "./verifier-auth.js";

/** What the service needs of the process's change-feed follower. */
export interface ChangeFeedPosition {
  /** Seq of the newest change this process has applied; every change up to it is readable. */
  readonly lastSeq: number;
  /** Calls `listener` after the follower applied new changes; returns the unsubscribe function. */
  onChanges(listener: () => void): () => void;
}

export interface RevocationFeedDeps {
  readonly db: SigilDb;
  readonly feed: ChangeFeedPosition;
  readonly auth: VerifierAuthorizer;
  readonly now: () => number;
  /** Most watch streams open at once in this process (default 1000). */
  readonly maxStreams?: number;
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
 */
export class RevocationFeedService {
  readonly #d: RevocationFeedDeps;
  readonly #maxStreams: number;
  readonly #streams = new Set<AbortController>();
  readonly #sharedReads = new Map<string, Promise<WatchedChangeRow[]>>();
  #sharedProbe: Promise<unknown> | undefined;
  #closed = false;

  constructor(deps: RevocationFeedDeps) {
    this.#d = deps;
    this.#maxStreams = deps.maxStreams ?? 1000;
  }

  /** Ends every open stream (UNAVAILABLE) and refuses new ones. */
  close(): void {
    this.#closed = true;
    for (const stream of this.#streams) stream.abort();
  }

  async *watchRevocations(req: WatchRevocationsRequest, ctx: CallContext): AsyncGenerator<WatchRevocationsResponse> {
    if (this.#closed) throw shuttingDown();
    const watcher = await this.#d.auth.requireVerifier(ctx);
    ctx.keyId = watcher.keyId;
    const heartbeatMs = req.heartbeatInterval === undefined ? HEARTBEAT.defaultMs : durationMs(req.heartbeatInterval, "heartbeat_interval", HEARTBEAT.minMs, HEARTBEAT.maxMs);
    const start = this.#parseStart(req);
    if (this.#streams.size >= this.#maxStreams) {
      throw new ConnectError(`too many WatchRevocations streams open on this server (${this.#maxStreams})`, Code.ResourceExhausted);
    }
    const stream = new AbortController();
    const onCancel = () => stream.abort();
    ctx.signal.addEventListener("abort", onCancel, { once: true });
    if (ctx.signal.aborted) stream.abort();
    this.#streams.add(stream);
    const wakeup = new FeedWakeup();
    const unsubscribe = this.#d.feed.onChanges(() => wakeup.notify());
    try {
      yield* this.#stream(start, watcher, heartbeatMs, wakeup, stream.signal);
      if (this.#closed) throw shuttingDown();
    } finally {
      unsubscribe();
      this.#streams.delete(stream);
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

  async *#stream(start: Start, watcher: KeyRecord, heartbeatMs: number, wakeup: FeedWakeup, signal: AbortSignal): AsyncGenerator<WatchRevocationsResponse> {
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
          yield response(page, page.length === REVOCATION_BATCH ? "" : encodeRevocationCursor(seq), signingKeyChanges);
          signingKeyChanges = [];
          sentAt = this.#d.now();
          if (signal.aborted) return;
        }
      }
    }
    for (;;) {
      const upTo = feed.lastSeq;
      while (seq < upTo) {
        const rows = await this.#readShared(seq, upTo);
        const end = rows.length === REVOCATION_BATCH ? rows[rows.length - 1]!.seq : upTo;
        if (rows.length > 0) {
          yield response(rows.filter(isRevocation).map(toRevocation), encodeRevocationCursor(end), rows.filter(isSigningKeyChange).map(toSigningKeyChange));
          sentAt = this.#d.now();
        }
        seq = end;
        if (signal.aborted) return;
        // The stream's own credential stops authorizing it once revoked (after that news is sent).
        if (rows.some((r) => isRevocation(r) && r.keyId === watcher.keyId)) {
          throw new ConnectError("the key of this WatchRevocations stream was revoked", Code.Unauthenticated);
        }
      }
      const now = this.#d.now();
      if (watcher.expireTime !== null && now >= watcher.expireTime) {
        throw new ConnectError("the key of this WatchRevocations stream expired", Code.Unauthenticated);
      }
      if (now - sentAt >= heartbeatMs) {
        // A heartbeat vouches that nothing was missed, which holds only while this process reaches
        // the database (else its follower is stuck): if it cannot, the stream fails and the client
        // reconnects elsewhere or, past its staleness bound, fails closed.
        await this.#probeDatabase();
        yield response([], encodeRevocationCursor(seq));
        sentAt = this.#d.now();
      }
      const woke = await wakeup.wait(sentAt + heartbeatMs - this.#d.now(), signal);
      if (woke === "aborted") return;
    }
  }

  /** Pages of keys revoked since `sinceMs`, from the keys table (complete whatever the feed retention). */
  async *#replay(sinceMs: number, signal: AbortSignal): AsyncGenerator<Revocation[]> {
    let after: { time: number; keyId: string } | undefined;
    for (;;) {
      const rows = await readKeysRevokedSince(this.#d.db, sinceMs, after, REVOCATION_BATCH);
      yield rows.map(toRevocation);
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
