import { isIPv4, isIPv6 } from "node:net";
import { LruCache } from "../cache/lru-cache.js";
import type { ClientIp } from "../usage/client-networks.js";

/**
 * A per-client throttle on failed guesses of imported key strings, for VerifyKey, BatchVerifyKeys
 * and DeriveToken (every unauthenticated path that tells whether a string is a key).
 *
 * What it counts. Only lookups of imported key strings that matched no key. Those strings come
 * from other systems and may be as short as 8 characters, so guessing them is feasible; a Sigil
 * key carries 256 random bits and derived tokens are signed, so failures of those are not guesses
 * worth counting, and they are never throttled.
 *
 * Why it never slows valid traffic. A client (below) starts with `burst` failures allowed, regains
 * one per `refillMs`, and only while it has none left are its imported-string verifications
 * answered CLIENT_THROTTLED without being checked. Even then a string this client has already
 * verified successfully (the last KNOWN_PER_CLIENT of them) is checked as usual: it proves nothing
 * new to the client, so it gives a guesser nothing. Sigil keys and tokens are not affected at all.
 * A client that does not fail `burst` times in a row never notices the throttle.
 *
 * Why it really slows guessing. A throttled client gets answers for no new string, so a guesser
 * gets `burst` tries and then one per `refillMs` (with the defaults, 20 and then 1 a second, against
 * the ~11,500 a second measured without it). The answer to an unchecked string is the same whether
 * or not it would have matched, so it leaks nothing, and refusing (rather than delaying) costs the
 * server nothing per refused guess.
 *
 * Who the client is: the `client_ip` the caller reports (a resource service passing the address it
 * observed, so one abusive end user does not throttle the service's other users), else the
 * caller's own address. IPv6 addresses count per /64, which one host usually holds whole. Since
 * anyone may set `client_ip`, the caller's address has an allowance of its own as well,
 * PEER_FACTOR times larger: a guesser cycling through made-up `client_ip` values is held to that.
 *
 * Memory is bounded: at most `maxClients` clients are tracked (least recently seen dropped first).
 * Each process keeps its own counts, so P processes allow P times the budget.
 */
export class VerifyFailureThrottle {
  readonly #clients: LruCache<string, ClientRecord>;
  readonly #ownBucket: Bucket;
  readonly #peerBucket: Bucket;

  constructor(settings: VerifyThrottleSettings) {
    this.#clients = new LruCache(settings.maxClients);
    this.#ownBucket = { burst: settings.burst, refillMs: settings.refillMs };
    this.#peerBucket = { burst: settings.burst * PEER_FACTOR, refillMs: settings.refillMs / PEER_FACTOR };
  }

  /**
   * Before a string with this digest (see `throttleDigest`) is checked for `client`: "known" (it
   * matched for this client before: checked free), "charged" (one failure is taken from the
   * client's allowance, and from its caller's, up front, so that concurrent guesses, e.g. the items
   * of one BatchVerifyKeys, cannot all pass before the first failure is counted) or "refused"
   * (answer CLIENT_THROTTLED without checking it).
   */
  begin(client: ThrottleClient, digest: string, nowMs: number): Admission {
    const own = this.#clients.get(client.id);
    if (own?.known.includes(digest)) return "known";
    if (own && this.#allowance(own, this.#ownBucket, nowMs) < 1) return "refused";
    const peer = client.peer === undefined ? undefined : this.#clients.get(client.peer);
    if (peer && this.#allowance(peer, this.#peerBucket, nowMs) < 1) return "refused";
    this.#add(client.id, this.#ownBucket, -1, nowMs);
    if (client.peer !== undefined) this.#add(client.peer, this.#peerBucket, -1, nowMs);
    return "charged";
  }

  /**
   * After the check. "matched": the charge is given back and the client is remembered to know the
   * string; "unchecked" (the lookup failed, e.g. the database was out of reach): the charge is given
   * back; "unmatched": the failure stays counted.
   */
  settle(client: ThrottleClient, digest: string, admission: Admission, outcome: "matched" | "unmatched" | "unchecked", nowMs: number): void {
    if (outcome === "unmatched" || admission === "refused") return;
    if (admission === "charged") {
      this.#add(client.id, this.#ownBucket, 1, nowMs);
      if (client.peer !== undefined) this.#add(client.peer, this.#peerBucket, 1, nowMs);
    }
    if (outcome === "unchecked") return;
    const own = this.#record(client.id, this.#ownBucket, nowMs);
    if (own.known.includes(digest)) return;
    own.known.push(digest);
    if (own.known.length > KNOWN_PER_CLIENT) own.known.shift();
  }

  /** Clients tracked now (for tests of the memory bound). */
  get trackedClients(): number {
    return this.#clients.size;
  }

  #add(key: string, bucket: Bucket, delta: number, nowMs: number): void {
    const r = this.#record(key, bucket, nowMs);
    r.allowance = Math.max(0, Math.min(bucket.burst, this.#allowance(r, bucket, nowMs) + delta));
    r.at = nowMs;
  }

  #record(key: string, bucket: Bucket, nowMs: number): ClientRecord {
    let r = this.#clients.get(key);
    if (!r) {
      r = { allowance: bucket.burst, at: nowMs, known: [] };
      this.#clients.set(key, r);
    }
    return r;
  }

  /** The allowance refilled up to now (stored by `#add`). */
  #allowance(r: ClientRecord, bucket: Bucket, nowMs: number): number {
    return Math.min(bucket.burst, r.allowance + Math.max(0, nowMs - r.at) / bucket.refillMs);
  }
}

export type Admission = "known" | "charged" | "refused";

interface Bucket {
  readonly burst: number;
  readonly refillMs: number;
}

export interface VerifyThrottleSettings {
  /** Failures a client may make before it is throttled. */
  readonly burst: number;
  /** A throttled client regains one failure per this many ms. */
  readonly refillMs: number;
  /** Most clients tracked at once. */
  readonly maxClients: number;
}

/** A client as the throttle counts it (keys into its table). */
export interface ThrottleClient {
  /** The reported client_ip, else the caller's address. */
  readonly id: string;
  /** The caller's address, when `id` is a reported client_ip. */
  readonly peer: string | undefined;
}

interface ClientRecord {
  allowance: number;
  at: number;
  /** Digests of strings this client verified successfully, oldest first. */
  readonly known: string[];
}

/** The caller's address may fail this many times more often than one reported client. */
export const PEER_FACTOR = 10;
/** Strings a client is remembered to know. */
const KNOWN_PER_CLIENT = 16;

/** The table key of an imported string: a prefix of its SHA-256 (the string itself is never kept). */
export function throttleDigest(sha256: Buffer): string {
  return sha256.toString("base64", 0, 12);
}

/**
 * The client of a verification: `client_ip` when reported, else the peer address (as grpc-js
 * reports it, `1.2.3.4:5678` or `[::1]:5678`, or as node:http does, without a port). Undefined
 * when neither is known (then nothing is throttled: there is no one to count against).
 */
export function throttleClientOf(clientIp: ClientIp | undefined, peerAddress: string | undefined): ThrottleClient | undefined {
  const peer = peerAddress === undefined ? undefined : hostOfPeer(peerAddress);
  const peerKey = peer === undefined ? undefined : clientKeyOf(peer);
  // Three kinds of entry, each with its own allowance: a reported client, a caller calling for
  // itself, and a caller as the sum of the clients it reports.
  if (clientIp !== undefined) return { id: `client ${clientKeyOf(clientIp.address)}`, peer: peerKey === undefined ? undefined : `via ${peerKey}` };
  return peerKey === undefined ? undefined : { id: `caller ${peerKey}`, peer: undefined };
}

function hostOfPeer(peer: string): string | undefined {
  if (peer.startsWith("[")) {
    const end = peer.indexOf("]");
    return end > 0 ? peer.slice(1, end) : undefined;
  }
  if (isIPv4(peer) || isIPv6(peer)) return peer;
  const colon = peer.lastIndexOf(":");
  const host = colon > 0 ? peer.slice(0, colon) : peer;
  return isIPv4(host) ? host : undefined;
}

/** IPv4 as is (also when IPv4-mapped); IPv6 by its /64. */
function clientKeyOf(address: string): string {
  const zone = address.indexOf("%");
  const bare = (zone >= 0 ? address.slice(0, zone) : address).toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
  if (mapped) return mapped[1]!;
  if (!isIPv6(bare)) return bare;
  return `${expandIpv6(bare).slice(0, 4).join(":")}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, as hex without leading zeros. */
function expandIpv6(address: string): string[] {
  const [head, tail] = address.includes("::") ? address.split("::") : [address, undefined];
  const groups = (part: string | undefined) => (part ? part.split(":") : []);
  const left = groups(head);
  const right = groups(tail);
  // An embedded IPv4 tail (::1.2.3.4) is two groups.
  const last = right.length > 0 ? right : left;
  const v4 = last.length > 0 && last[last.length - 1]!.includes(".") ? last.pop()!.split(".").map(Number) : undefined;
  if (v4) last.push(((v4[0]! << 8) | v4[1]!).toString(16), ((v4[2]! << 8) | v4[3]!).toString(16));
  const fill = tail === undefined ? [] : Array.from({ length: 8 - left.length - right.length }, () => "0");
  return [...left, ...fill, ...right].map((g) => parseInt(g, 16).toString(16));
}
