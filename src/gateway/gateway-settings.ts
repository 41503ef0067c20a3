import { NetworkSyntaxError, parseAllowedNetworks } from "../usage/client-networks.js";

/** Header names a gateway may name as the credential's header (an HTTP token, lower-cased). */
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]{1,64}$/;

/**
 * SIGIL_AUTH_HEADER: a request header that holds the credential itself (X-API-Key), read by
 * /v1/authorize and Envoy's Check before `Authorization: Bearer`. "none" (the default): only
 * `Authorization: Bearer`.
 */
export function parseAuthHeader(text: string): string | undefined {
  const name = text.trim().toLowerCase();
  if (name === "none" || name === "") return undefined;
  if (!HEADER_NAME.test(name)) throw new Error(`must be a header name like X-API-Key (1 to 64 letters, digits and - _ .), or none`);
  if (name === "authorization") throw new Error("must name a header other than Authorization (Authorization: Bearer is always read)");
  return name;
}

/**
 * SIGIL_TRUSTED_PROXIES: the networks (CIDRs, comma-separated) of the proxies whose
 * X-Forwarded-For / X-Real-IP the gateway adapters believe. Canonical CIDR strings; empty: none.
 */
export function parseTrustedProxies(text: string): string[] {
  const entries = text.split(",").map((e) => e.trim()).filter((e) => e.length > 0);
  try {
    return parseAllowedNetworks(entries);
  } catch (err) {
    if (err instanceof NetworkSyntaxError) throw new Error(`must be networks like 10.0.0.0/8,2001:db8::/32 (${err.message.replace(/^\[(\d+)\]/, "entry $1")})`);
    throw err;
  }
}
