import { InvalidCaveatError, parseCaveat } from "./caveats.js";
import { addFirstPartyCaveat } from "./signature.js";
import { formatMacaroonToken, parseMacaroonToken } from "./token-string.js";

// Caveats are not secrets, but keep error messages short whatever a holder passes in.
const MAX_QUOTED_CAVEAT = 64;

/**
 * For holders: appends first-party caveats to an `sgm_` token, offline and without any key, and
 * returns the narrower token. Each caveat must be one of Sigil's forms (see caveats.ts), so a
 * holder cannot mint a token Sigil will reject as UNKNOWN_CAVEAT.
 *
 * Throws MacaroonFormatError for a bad token or a result over the bounds, and
 * InvalidCaveatError for a caveat Sigil does not understand.
 */
export function attenuate(token: string, caveats: readonly string[]): string {
  for (const caveat of caveats) {
    if (parseCaveat(caveat) === undefined) {
      const quoted = caveat.length > MAX_QUOTED_CAVEAT ? `${caveat.slice(0, MAX_QUOTED_CAVEAT)}...` : caveat;
      throw new InvalidCaveatError(`not a caveat Sigil understands: ${JSON.stringify(quoted)}`);
    }
  }
  let m = parseMacaroonToken(token);
  for (const caveat of caveats) m = addFirstPartyCaveat(m, caveat);
  return formatMacaroonToken(m);
}
