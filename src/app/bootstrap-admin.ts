import path from "node:path";
import type { Logger } from "pino";
import type { SigilDb } from "../store/database.js";
import { countKeysWithScope } from "../store/key-repository.js";
import type { KeyService } from "../service/key-service.js";
import { ADMIN_SCOPE } from "../service/scopes.js";
import { ADMIN_KEY_FILE, writeOwnerOnlyFile } from "./data-dir.js";

/**
 * A fresh installation gets its first admin key, written to `<data dir>/admin.key` (mode 0600).
 * The log names the file, never the key. Nothing happens once any admin key exists.
 */
export async function bootstrapAdminKey(db: SigilDb, service: KeyService, dataDir: string, log: Logger): Promise<string | undefined> {
  if ((await countKeysWithScope(db, ADMIN_SCOPE)) > 0) return undefined;
  const { record, key } = await service.issue(
    { name: "bootstrap admin", owner: "sigil:bootstrap", scopes: [ADMIN_SCOPE], metadata: {}, expireTime: null },
    { actorKeyId: null },
  );
  const file = path.join(dataDir, ADMIN_KEY_FILE);
  writeOwnerOnlyFile(file, key + "\n");
  log.warn({ file, keyId: record.keyId }, "created the first admin key; it is in this file (mode 0600)");
  return file;
}
