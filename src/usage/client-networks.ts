import { BlockList, isIP } from "node:net";

/** Most networks a key may list, and the longest text of one entry or of a client IP. */
export const MAX_ALLOWED_NETWORKS = 64;
export const MAX_NETWORK_CHARS = 64;

/**
 * The client networks a key may be used from, compiled once per key record so that the check on
 * the verification path is one BlockList lookup. IPv4 networks also match IPv4-mapped IPv6
 * addresses (::ffff:a.b.c.d), which dual-stack servers report for IPv4 clients.
 */
export class ClientNetworks {
  /** Canonical CIDR strings, as stored and shown. */
  readonly cidrs: readonly string[];
  readonly #list = new BlockList();

  private constructor(cidrs: readonly Cidr[]) {
    this.cidrs = cidrs.map((c) => c.text);
    for (const c of cidrs) this.#list.addSubnet(c.address, c.prefix, c.family);
  }

  /** Compiles canonical CIDRs (from storage or from `parseAllowedNetworks`). */
  static of(cidrs: readonly string[]): ClientNetworks {
    return new ClientNetworks(cidrs.map((text, i) => parseCidr(text, i)));
  }

  /** True when `ip` (already checked by `parseClientIp`) lies in one of the networks. */
  allows(ip: ClientIp | undefined): boolean {
    if (ip === undefined) return false;
    return this.#list.check(ip.address, ip.family);
  }
}

export interface ClientIp {
  readonly address: string;
  readonly family: "ipv4" | "ipv6";
}

interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: "ipv4" | "ipv6";
  readonly text: string;
}

/** Why an entry is not a network; the caller prefixes the field name. */
export class NetworkSyntaxError extends Error {
  override name = "NetworkSyntaxError";
}

/**
 * Parses an allowed-networks list: CIDRs ("10.0.0.0/8", "2001:db8::/32") or single addresses
 * (taken as /32 or /128). Host bits must be zero, so a typo like "10.1.2.3/8" is refused rather
 * than silently widened. Returns canonical strings with duplicates dropped.
 */
export function parseAllowedNetworks(entries: readonly string[]): string[] {
  if (entries.length > MAX_ALLOWED_NETWORKS) throw new NetworkSyntaxError(`at most ${MAX_ALLOWED_NETWORKS} networks, got ${entries.length}`);
  return [...new Set(entries.map((entry, i) => parseCidr(entry, i).text))];
}

/** The client IP of a VerifyKey request; undefined for an empty one. Throws on a non-address. */
export function parseClientIp(text: string): ClientIp | undefined {
  if (text.length === 0) return undefined;
  if (text.length > MAX_NETWORK_CHARS) throw new NetworkSyntaxError(`longer than ${MAX_NETWORK_CHARS} characters`);
  // A zone index (fe80::1%eth0) names the observer's interface, not part of the address.
  const zone = text.indexOf("%");
  const address = zone >= 0 ? text.slice(0, zone) : text;
  const version = isIP(address);
  if (version === 0) throw new NetworkSyntaxError("not an IPv4 or IPv6 address");
  return { address, family: version === 4 ? "ipv4" : "ipv6" };
}

function parseCidr(entry: string, index: number): Cidr {
  const bad = (why: string) => new NetworkSyntaxError(`[${index}]: ${why}`);
  if (entry.length === 0 || entry.length > MAX_NETWORK_CHARS) throw bad(`must be 1 to ${MAX_NETWORK_CHARS} characters`);
  const slash = entry.indexOf("/");
  const address = slash >= 0 ? entry.slice(0, slash) : entry;
  const version = isIP(address);
  if (version === 0) throw bad("not an IPv4 or IPv6 network (like 10.0.0.0/8 or 2001:db8::/32)");
  const bits = version === 4 ? 32 : 128;
  const prefixText = slash >= 0 ? entry.slice(slash + 1) : String(bits);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) throw bad(`prefix length must be 0 to ${bits}`);
  const prefix = Number(prefixText);
  const bytes = addressBytes(address, version);
  const network = maskBytes(bytes, prefix);
  const canonical = formatBytes(network, version);
  if (!bytes.equals(network)) throw bad(`host bits are set; the network is ${canonical}/${prefix}`);
  return { address: canonical, prefix, family: version === 4 ? "ipv4" : "ipv6", text: `${canonical}/${prefix}` };
}

function addressBytes(address: string, version: number): Buffer {
  if (version === 4) return Buffer.from(address.split(".").map(Number));
  let text = address;
  const groups: number[] = [];
  // An embedded IPv4 tail (::ffff:10.0.0.1) is two 16-bit groups.
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  let v4: number[] = [];
  if (tail.includes(".")) {
    v4 = tail.split(".").map(Number);
    text = text.slice(0, lastColon + 1) + "0:0";
  }
  const [head, rest] = text.includes("::") ? text.split("::") : [text, undefined];
  const parse = (part: string | undefined) => (part ? part.split(":").map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(rest);
  groups.push(...left, ...new Array(8 - left.length - right.length).fill(0), ...right);
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  if (v4.length === 4) Buffer.from(v4).copy(out, 12);
  return out;
}

function maskBytes(bytes: Buffer, prefix: number): Buffer {
  const out = Buffer.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] = out[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

function formatBytes(bytes: Buffer, version: number): string {
  if (version === 4) return [...bytes].join(".");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i));
  // RFC 5952: compress the longest run (of at least two) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}
