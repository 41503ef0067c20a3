import type { Caveat } from "./format.js";

/**
 * Sigil's first-party caveat language. Each caveat is one UTF-8 string of exactly one form:
 *
 *   expires <RFC 3339 date-time>                 invalid at or after that instant; any offset
 *                                                (Z or ±hh:mm), e.g. 2026-12-01T08:09:35Z or
 *                                                Python's isoformat() 2026-12-01T08:09:35.5+00:00
 *   scope <scope> [<scope> ...]                  effective scopes = parent ∩ every scope caveat
 *   aud <audience>                               the verify request's audience must equal it
 *   key_id <id>                                  must equal the key id in the identifier
 *
 * Single spaces only, no leading or trailing space. Anything else (another keyword, a bad
 * argument, a third-party caveat, bytes that are not UTF-8) is an unknown caveat, and unknown
 * caveats fail closed: a holder's restriction that Sigil cannot read must never be ignored.
 */

export type SigilCaveat =
  | { readonly kind: "expires"; readonly time: Date }
  | { readonly kind: "scope"; readonly scopes: readonly string[] }
  | { readonly kind: "aud"; readonly audience: string }
  | { readonly kind: "key_id"; readonly keyId: string };

export type CaveatFailure = "EXPIRED" | "INSUFFICIENT_SCOPE" | "AUDIENCE_MISMATCH" | "UNKNOWN_CAVEAT" | "MALFORMED";

export type CaveatVerdict =
  | { readonly ok: true; readonly scopes: string[]; readonly expireTime?: Date }
  | { readonly ok: false; readonly reason: CaveatFailure };

export interface CaveatContext {
  readonly now: Date;
  /** The parent key id decoded from the macaroon identifier. */
  readonly keyId: string;
  readonly parentScopes: readonly string[];
  /** Scopes the verify request requires; empty means no scope check. */
  readonly requiredScopes: readonly string[];
  /** The verify request's audience; empty means the request names none. */
  readonly audience: string;
}

/** Thrown by the caveat builders and by `attenuate` for a caveat Sigil would not accept. */
export class InvalidCaveatError extends Error {
  override readonly name = "InvalidCaveatError";
}

// Same charset and length as IssueKeyRequest.scopes.
const SCOPE_PATTERN = /^[A-Za-z0-9:._/*-]{1,128}$/;
const KEY_ID_PATTERN = /^[A-Za-z0-9]{1,32}$/;
const MAX_AUDIENCE_CHARS = 256;
// C0 and C1 controls and DEL: never part of an audience, and they make log lines lie.
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
// RFC 3339 §5.6 date-time: "T" and "Z" may be lower case; the fraction has one digit or more.
const TIMESTAMP_PATTERN = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------------------------------------
// Parsing

/** Parses one caveat string; undefined when it is not exactly one of Sigil's forms. */
export function parseCaveat(text: string): SigilCaveat | undefined {
  const space = text.indexOf(" ");
  if (space < 0) return undefined;
  const keyword = text.slice(0, space);
  const argument = text.slice(space + 1);
  switch (keyword) {
    case "expires": {
      const time = parseTimestamp(argument);
      return time === undefined ? undefined : { kind: "expires", time };
    }
    case "scope": {
      const scopes = argument.split(" ");
      return scopes.every((s) => SCOPE_PATTERN.test(s)) ? { kind: "scope", scopes } : undefined;
    }
    case "aud":
      return isValidAudience(argument) ? { kind: "aud", audience: argument } : undefined;
    case "key_id":
      return KEY_ID_PATTERN.test(argument) ? { kind: "key_id", keyId: argument } : undefined;
    default:
      return undefined;
  }
}

/** Parses a macaroon caveat; undefined for third-party caveats, non-UTF-8 and unknown forms. */
export function parseMacaroonCaveat(caveat: Caveat): SigilCaveat | undefined {
  if (caveat.verificationId !== undefined || caveat.location !== undefined) return undefined;
  let text: string;
  try {
    text = utf8Decoder.decode(caveat.identifier);
  } catch {
    return undefined;
  }
  return parseCaveat(text);
}

function isValidAudience(audience: string): boolean {
  const length = Array.from(audience).length;
  return length >= 1 && length <= MAX_AUDIENCE_CHARS && !CONTROL_CHARACTER.test(audience);
}

/**
 * An RFC 3339 date-time with its offset (Z or ±hh:mm), as the instant it names. Fields out of
 * range (month 13, Feb 30, hour 24, second 60, offset hour 24) are rejected rather than rolled
 * over; leap seconds are not accepted (the token then fails closed). Fractions past milliseconds
 * are truncated.
 */
function parseTimestamp(text: string): Date | undefined {
  const m = TIMESTAMP_PATTERN.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number, number, number, number, number, number,
  ];
  // Truncating (not rounding) can only move the expiry earlier, the safe direction.
  const millis = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, "0"));
  // The fields as written are checked in their own (local) time; the offset is applied after.
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 1900-1999.
  const local = new Date(0);
  local.setUTCFullYear(year, month - 1, day);
  local.setUTCHours(hour, minute, second, millis);
  // Out-of-range fields roll over: reject what does not read back.
  if (
    local.getUTCFullYear() !== year ||
    local.getUTCMonth() !== month - 1 ||
    local.getUTCDate() !== day ||
    local.getUTCHours() !== hour ||
    local.getUTCMinutes() !== minute ||
    local.getUTCSeconds() !== second
  ) {
    return undefined;
  }
  if (m[8] !== undefined) return local;
  const offsetHours = Number(m[10]);
  const offsetMinutes = Number(m[11]);
  if (offsetHours > 23 || offsetMinutes > 59) return undefined;
  // Local time = UTC + offset, so UTC = local - offset ("-00:00" is UTC too, RFC 3339 §4.3).
  const offsetMs = (m[9] === "-" ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  return new Date(local.getTime() - offsetMs);
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/**
 * Evaluates every caveat against a verify request. Checks run in a fixed order, so a token that
 * fails several gets one predictable reason: unknown caveat, key id, expiry, audience, scopes.
 */
export function evaluateCaveats(caveats: readonly Caveat[], ctx: CaveatContext): CaveatVerdict {
  const now = ctx.now.getTime();
  // An invalid Date compares false with everything and would let expired tokens through.
  if (Number.isNaN(now)) throw new RangeError("evaluateCaveats: ctx.now is an invalid Date");

  const parsed: SigilCaveat[] = [];
  for (const caveat of caveats) {
    const p = parseMacaroonCaveat(caveat);
    if (p === undefined) return { ok: false, reason: "UNKNOWN_CAVEAT" };
    parsed.push(p);
  }

  let expireTime: Date | undefined;
  let scopes = unique(ctx.parentScopes);
  const audiences: string[] = [];
  for (const p of parsed) {
    switch (p.kind) {
      case "key_id":
        // Names another key than the identifier: not a token Sigil minted or would attenuate.
        if (p.keyId !== ctx.keyId) return { ok: false, reason: "MALFORMED" };
        break;
      case "expires":
        if (expireTime === undefined || p.time.getTime() < expireTime.getTime()) expireTime = p.time;
        break;
      case "scope": {
        const allowed = new Set(p.scopes);
        scopes = scopes.filter((s) => allowed.has(s));
        break;
      }
      case "aud":
        audiences.push(p.audience);
        break;
    }
  }

  if (expireTime !== undefined && now >= expireTime.getTime()) return { ok: false, reason: "EXPIRED" };
  if (audiences.some((a) => a !== ctx.audience)) return { ok: false, reason: "AUDIENCE_MISMATCH" };
  const granted = new Set(scopes);
  if (!ctx.requiredScopes.every((s) => granted.has(s))) return { ok: false, reason: "INSUFFICIENT_SCOPE" };

  return expireTime === undefined ? { ok: true, scopes } : { ok: true, scopes, expireTime };
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

// ---------------------------------------------------------------------------------------------
// Builders: each returns a caveat that parseCaveat accepts, or throws InvalidCaveatError.

/** `expires <time>`: seconds precision unless the date has milliseconds. */
export function expiresCaveat(date: Date): string {
  const ms = date.getTime();
  if (Number.isNaN(ms)) throw new InvalidCaveatError("expires: invalid date");
  const year = date.getUTCFullYear();
  if (year < 0 || year > 9999) throw new InvalidCaveatError("expires: year must be 0000 to 9999");
  const iso = date.toISOString();
  return `expires ${date.getUTCMilliseconds() === 0 ? iso.replace(".000Z", "Z") : iso}`;
}

export function scopeCaveat(scopes: readonly string[]): string {
  if (scopes.length === 0) throw new InvalidCaveatError("scope: at least one scope is required");
  for (const scope of scopes) {
    if (!SCOPE_PATTERN.test(scope)) {
      throw new InvalidCaveatError("scope: each scope must be 1 to 128 characters of [A-Za-z0-9:._/*-]");
    }
  }
  return `scope ${scopes.join(" ")}`;
}

export function audCaveat(audience: string): string {
  if (!isValidAudience(audience)) {
    throw new InvalidCaveatError(`aud: audience must be 1 to ${MAX_AUDIENCE_CHARS} characters without control characters`);
  }
  return `aud ${audience}`;
}

export function keyIdCaveat(keyId: string): string {
  if (!KEY_ID_PATTERN.test(keyId)) throw new InvalidCaveatError("key_id: must be 1 to 32 characters of [A-Za-z0-9]");
  return `key_id ${keyId}`;
}
