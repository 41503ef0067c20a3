import { rmSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { SETTINGS } from "../config/config.js";
import { errorCode, replacePrivateFile } from "../config/private-files.js";
import type { SigilDb } from "../store/database.js";
import { hasKeyOwnedBy } from "../store/key-repository.js";
import type { KeyService } from "../service/key-service.js";
import { ROLES } from "../tenants/roles.js";
import { ADMIN_KEY_FILE } from "./data-dir.js";
import { settingLabel, StartupError } from "./startup-error.js";

export const BOOTSTRAP_OWNER = "sigil:bootstrap";

/**
 * A fresh installation gets its first admin key, written to `<data dir>/admin.key` (mode 0600).
 * The log names the file, never the key. Nothing happens once that key exists (keys are never
 * deleted), which an index on owner answers at once: the check runs at every start, on every worker,
 * and a scan of the scopes of a million keys took 273 ms here (the index: 0.2 ms).
 *
 * The file is written, complete and 0600 from its creation, before the key's row is committed: the
 * key is never valid without its file. If the commit fails, the file is removed again. A file that
 * is already there holds no valid key (no bootstrap key exists), left by an interrupted start or a
 * wiped database; it is replaced. The data directory checks (data-dir.ts) ran before: the
 * directory is the server's alone and the file, if any, is not a link.
 */
export async function bootstrapAdminKey(db: SigilDb, service: KeyService, dataDir: string, log: Logger): Promise<string | undefined> {
  if (await hasKeyOwnedBy(db, BOOTSTRAP_OWNER)) return undefined;
  const file = path.join(dataDir, ADMIN_KEY_FILE);
  let written = false;
  try {
    const { record } = await service.issue(
      { name: "bootstrap admin", owner: BOOTSTRAP_OWNER, scopes: [ROLES.admin], metadata: {}, expireTime: null },
      {
        actor: null,
        beforeWrite: (key) => {
          try {
            replacePrivateFile(file, key + "\n");
          } catch (err) {
            throw new StartupError(`${settingLabel(SETTINGS.dataDir)}: cannot write the first admin key to ${file} (${errorCode(err)})`);
          }
          written = true;
        },
      },
    );
    log.warn({ file, keyId: record.keyId }, "created the first admin key; it is in this file (mode 0600)");
    return file;
  } catch (err) {
    if (written) rmSync(file, { force: true });
    throw err;
  }
}
