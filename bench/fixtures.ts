// The credentials each scenario sends. For Sigil they are real (issued, derived, seeded); for the
// reference servers, which ignore the request, they are stand-ins of the same shape and size.
import { formatApiKey, newKeyId } from "../src/keys/api-key-format.js";
import { deriveTokenResponse } from "./reference/fixed-responses.js";
import type { KeyList } from "./datasets.js";
import { deriveJwtRequest } from "./request-bodies.js";
import type { SigilInstance } from "./servers/sigil-server.js";

export interface Fixtures {
  adminKey: string;
  /** Valid keys cycled by the cache-hit scenarios: each is cached after its first use. */
  validKeys: string[];
  derivedJwt: string;
  /** Wrong format or wrong checksum: rejected before storage. */
  malformedKeys: string[];
  /** Well-formed, correct checksum, random key id that is not stored. */
  unknownKeys: string[];
  /** Keys seeded into the database, for random (mostly cache-missing) draws. */
  storedKeys: KeyList | undefined;
}

const VALID_KEY_COUNT = 16;
const UNKNOWN_KEY_COUNT = 64;

/** Same length and alphabet as a key, with its last (checksum) character changed. */
function breakChecksum(key: string): string {
  const last = key.at(-1)!;
  return key.slice(0, -1) + (last === "A" ? "B" : "A");
}

function unknownKeys(prefix: string): string[] {
  return Array.from({ length: UNKNOWN_KEY_COUNT }, () => formatApiKey(prefix, newKeyId()).key);
}

export async function prepareSigilFixtures(sigil: SigilInstance, storedKeys: KeyList | undefined): Promise<Fixtures> {
  const validKeys: string[] = [];
  for (let i = 0; i < VALID_KEY_COUNT; i++) {
    const issued = await sigil.rpc.issueKey(sigil.adminKey, { name: `bench valid ${i}`, owner: "svc:bench", scopes: ["read", "write"] });
    validKeys.push(issued.secret);
  }
  const derived = await sigil.rpc.deriveToken(deriveJwtRequest(validKeys[0]!));
  const prefix = validKeys[0]!.split("_")[0]!;
  return {
    adminKey: sigil.adminKey,
    validKeys,
    derivedJwt: derived.token,
    malformedKeys: [`${prefix}_notakey`, breakChecksum(validKeys[0]!)],
    unknownKeys: unknownKeys(prefix),
    storedKeys,
  };
}

export function referenceFixtures(): Fixtures {
  const keys = unknownKeys("sgl");
  return {
    adminKey: keys[0]!,
    validKeys: keys.slice(0, VALID_KEY_COUNT),
    derivedJwt: deriveTokenResponse.token,
    malformedKeys: ["sgl_notakey"],
    unknownKeys: keys,
    storedKeys: undefined,
  };
}
