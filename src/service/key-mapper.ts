import { create } from "@bufbuild/protobuf";
import { timestampFromMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { keyState, type KeyRecord } from "../keys/key-record.js";
import { KeySchema, KeyStatus, type Key } from "../../gen/sigil/v1/key_pb.js";

const STATUS = { active: KeyStatus.ACTIVE, revoked: KeyStatus.REVOKED, expired: KeyStatus.EXPIRED } as const;

export function optionalTimestamp(ms: number | null | undefined): Timestamp | undefined {
  return ms === null || ms === undefined ? undefined : timestampFromMs(ms);
}

/** The public record of a key (never its hash). */
export function keyToProto(r: KeyRecord, nowMs: number): Key {
  return create(KeySchema, {
    keyId: r.keyId,
    name: r.name,
    owner: r.owner,
    scopes: [...r.scopes],
    metadata: { ...r.metadata },
    createTime: timestampFromMs(r.createTime),
    expireTime: optionalTimestamp(r.expireTime),
    revokeTime: optionalTimestamp(r.revokeTime),
    revokeReason: r.revokeReason ?? "",
    status: STATUS[keyState(r, nowMs)],
    prefix: r.prefix,
  });
}
