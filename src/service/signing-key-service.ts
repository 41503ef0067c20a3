import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { SigilDb } from "../store/database.js";
import { findSigningKeys, listSigningKeysPage } from "../store/signing-key-repository.js";
import type { SigningKeyRow } from "../store/tables/signing-keys-table.js";
import type { SigningKeyRotator } from "../tokens/signing-key-rotation.js";
import type { SigningKeys } from "../tokens/signing-keys.js";
import {
  ListSigningKeysResponseSchema,
  RotateSigningKeyResponseSchema,
  SigningKeySchema,
  SigningKeyState,
  type ListSigningKeysRequest,
  type ListSigningKeysResponse,
  type RotateSigningKeyRequest,
  type RotateSigningKeyResponse,
  type SigningKey,
} from "../../clients/typescript/src/gen/sigil/v1/signing_key_pb.js";
import type { ActorRecheck } from "./actor-recheck.js";
import type { AdminAuthorizer } from "./admin-auth.js";
import type { CallContext } from "./call-context.js";
import { optionalTimestamp } from "./key-mapper.js";
import { decodePageToken, encodePageToken, isSafeInteger } from "./page-token.js";
import { invalid, LIMITS } from "./request-validation.js";

/**
 * Most signing keys published at once. A planned rotation beyond it is refused (the JWKS every
 * verifier downloads stays small); `retire_now` is always allowed, since it unpublishes the rest.
 */
export const MAX_PUBLISHED_SIGNING_KEYS = 16;
/** A rotation that loses the race to another process's tries again with the key that won, this often. */
const ROTATION_ATTEMPTS = 3;

export interface SigningKeyServiceDeps {
  readonly db: SigilDb;
  readonly keys: SigningKeys;
  readonly rotator: SigningKeyRotator;
  readonly admin: AdminAuthorizer;
  /** Authorizes the rotation again inside its transaction. */
  readonly recheck: ActorRecheck;
  readonly now: () => number;
}

/** ListSigningKeys and RotateSigningKey: the JWT signing keys, for admins. */
export class SigningKeyService {
  readonly #d: SigningKeyServiceDeps;

  constructor(deps: SigningKeyServiceDeps) {
    this.#d = deps;
  }

  async listSigningKeys(req: ListSigningKeysRequest, ctx: CallContext): Promise<ListSigningKeysResponse> {
    ctx.keyId = (await this.#d.admin.requireAdmin(ctx)).keyId;
    if (req.pageSize < 0) throw invalid("page_size: must not be negative");
    const limit = req.pageSize === 0 ? LIMITS.defaultPageSize : Math.min(req.pageSize, LIMITS.maxPageSize);
    const after = req.pageToken
      ? decodePageToken(req.pageToken, "", "ListSigningKeys", ([createTime, kid, ...rest]) =>
          isSafeInteger(createTime) && typeof kid === "string" && rest.length === 0 ? { createTime, kid } : undefined,
        )
      : undefined;
    const rows = await listSigningKeysPage(this.#d.db, { after, limit: limit + 1 });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return create(ListSigningKeysResponseSchema, {
      signingKeys: page.map((row) => this.#toProto(row)),
      nextPageToken: rows.length > limit && last ? encodePageToken([last.create_time, last.kid], "") : "",
    });
  }

  async rotateSigningKey(req: RotateSigningKeyRequest, ctx: CallContext): Promise<RotateSigningKeyResponse> {
    const actor = await this.#d.admin.requireAdmin(ctx);
    ctx.keyId = actor.keyId;
    if (!req.retireNow && this.#d.keys.jwks().length >= MAX_PUBLISHED_SIGNING_KEYS) {
      throw new ConnectError(
        `${MAX_PUBLISHED_SIGNING_KEYS} signing keys are published already; wait for retired keys to expire, or rotate with retire_now`,
        Code.FailedPrecondition,
      );
    }
    for (let attempt = 0; attempt < ROTATION_ATTEMPTS; attempt++) {
      const active = await this.#d.keys.signingKey();
      const result = await this.#d.rotator.rotate({
        expectedKid: active.kid,
        retireNow: req.retireNow,
        actorKeyId: actor.keyId,
        authorize: async (tx) => {
          await this.#d.recheck.requireAdmin(tx, actor.actor);
        },
      });
      if (!result) continue; // another process rotated a moment ago: replace the key that won
      const rows = await findSigningKeys(this.#d.db, [result.newKid, ...result.retiredKids, ...result.revokedKids]);
      const byKid = new Map(rows.map((r) => [r.kid, r]));
      return create(RotateSigningKeyResponseSchema, {
        signingKey: this.#toProto(byKid.get(result.newKid)!),
        replacedSigningKeys: [...result.revokedKids, ...result.retiredKids].flatMap((kid) => {
          const row = byKid.get(kid);
          return row ? [this.#toProto(row)] : [];
        }),
      });
    }
    throw new ConnectError("other processes kept rotating the signing key at the same time; try again", Code.Aborted);
  }

  #toProto(row: SigningKeyRow): SigningKey {
    const now = this.#d.now();
    const retiredUntil = row.retire_time === null ? null : row.retire_time + this.#d.keys.publishWindowMs;
    const state =
      row.revoke_time !== null
        ? SigningKeyState.REVOKED
        : retiredUntil === null
          ? SigningKeyState.ACTIVE
          : retiredUntil > now
            ? SigningKeyState.RETIRED
            : SigningKeyState.EXPIRED;
    return create(SigningKeySchema, {
      kid: row.kid,
      algorithm: row.alg,
      state,
      createTime: optionalTimestamp(row.create_time),
      retireTime: optionalTimestamp(row.retire_time),
      expireTime: optionalTimestamp(row.revoke_time ?? retiredUntil),
      revokeTime: optionalTimestamp(row.revoke_time),
    });
  }
}
