import { ClientNetworks, parseClientIp, type ClientIp } from "../usage/client-networks.js";
import { invalid } from "../service/request-validation.js";

/** Most X-Forwarded-For hops walked through trusted proxies before the request is refused. */
const MAX_TRUSTED_HOPS = 64;

/**
 * Who the client of a gateway request is: the address a key's allowed networks are checked
 * against, and the failure throttle counts under. The socket's peer (or Envoy's source address),
 * unless that peer is one of SIGIL_TRUSTED_PROXIES: then the right-most X-Forwarded-For hop that is
 * not a trusted proxy (hops left of it were written by the client and prove nothing), else
 * X-Real-IP. With no trusted proxies, forwarding headers are ignored: anyone can send them.
 */
export class ClientAddressResolver {
  readonly #trusted: ClientNetworks | undefined;
  // Gateways hold keep-alive connections: the same peer string, parsed once.
  #lastPeer: string | undefined;
  #lastPeerIp: ClientIp | undefined;

  constructor(trustedProxies: readonly string[]) {
    this.#trusted = trustedProxies.length > 0 ? ClientNetworks.of(trustedProxies) : undefined;
  }

  /** Throws INVALID_ARGUMENT (naming the header, never quoting it) for a hop that is not an address. */
  resolve(peer: string | undefined, forwardedFor: string | undefined, realIp: string | undefined): ClientIp | undefined {
    const peerIp = this.#peer(peer);
    const trusted = this.#trusted;
    if (trusted === undefined || peerIp === undefined || !trusted.allows(peerIp)) return peerIp;
    if (forwardedFor !== undefined && forwardedFor.trim() !== "") return rightmostUntrusted(forwardedFor, trusted);
    if (realIp !== undefined && realIp.trim() !== "") return hopAddress(realIp, "X-Real-IP");
    return peerIp;
  }

  #peer(peer: string | undefined): ClientIp | undefined {
    if (peer === this.#lastPeer) return this.#lastPeerIp;
    let ip: ClientIp | undefined;
    try {
      ip = peer === undefined ? undefined : parseClientIp(peer);
    } catch {
      ip = undefined;
    }
    this.#lastPeer = peer;
    this.#lastPeerIp = ip;
    return ip;
  }
}

function rightmostUntrusted(header: string, trusted: ClientNetworks): ClientIp {
  let end = header.length;
  let last: ClientIp | undefined;
  for (let hops = 1; end > 0; hops++) {
    if (hops > MAX_TRUSTED_HOPS) throw invalid(`X-Forwarded-For: more than ${MAX_TRUSTED_HOPS} hops of trusted proxies`);
    const comma = header.lastIndexOf(",", end - 1);
    const ip = hopAddress(header.slice(comma + 1, end), "X-Forwarded-For", hops);
    if (!trusted.allows(ip)) return ip;
    last = ip;
    end = comma;
  }
  // Every hop is a trusted proxy: the left-most one is where the chain starts.
  return last!;
}

/** One hop: an IPv4 or IPv6 address, with an optional port (1.2.3.4:80, [2001:db8::1]:80). */
function hopAddress(text: string, header: string, fromRight?: number): ClientIp {
  let address = text.trim();
  if (address.startsWith("[")) {
    const close = address.indexOf("]");
    address = close > 0 ? address.slice(1, close) : address;
  } else {
    const colon = address.indexOf(":");
    if (colon > 0 && colon === address.lastIndexOf(":")) address = address.slice(0, colon);
  }
  const which = fromRight === undefined ? header : `${header}: hop ${fromRight} from the right`;
  let ip: ClientIp | undefined;
  try {
    ip = parseClientIp(address);
  } catch {
    ip = undefined;
  }
  if (ip === undefined) throw invalid(`${which} is not an IP address`);
  return ip;
}
