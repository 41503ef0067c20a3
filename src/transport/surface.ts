import { fromBinary, toBinary, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";

/** What a Sigil instance serves (SIGIL_MODE / --mode). */
export const SERVE_MODES = ["all", "verify", "admin"] as const;
export type ServeMode = (typeof SERVE_MODES)[number];

/**
 * The surface of each mode: per service (full name), the methods it serves; a service or mode not
 * listed serves every method. Health, reflection, /healthz and /.well-known/jwks.json are served in
 * every mode. `verify` is what resource services and key holders call, so a verify instance can sit
 * beside them without exposing administration: RevokeKey stays for self-revocation only (a holder
 * revoking its own leaked key), which SelfRevocationGuard enforces. `admin` serves everything,
 * like `all`; the name says where it belongs (an internal address).
 */
const SURFACES: Readonly<Record<ServeMode, Readonly<Record<string, readonly string[]>>>> = {
  all: {},
  admin: {},
  verify: {
    "sigil.v1.KeyService": ["VerifyKey", "BatchVerifyKeys", "DeriveToken", "GetJwks", "WatchRevocations", "RevokeKey"],
    // Envoy's ext_authz (src/gateway/): VerifyKey for a gateway. /v1/authorize is served in every mode too.
    "envoy.service.auth.v3.Authorization": ["Check"],
  },
};

/** Field numbers of FileDescriptorProto.service and ServiceDescriptorProto.method (descriptor.proto). */
const SERVICE_FIELD = 6;
const METHOD_FIELD = 2;

/**
 * Applies a mode to what the listeners register: both take the services list through `services`
 * and reflection takes its files through `reflectionFiles`, so a method outside the surface is not
 * registered at all (its calls are UNIMPLEMENTED on every protocol, before the request is decoded)
 * and reflection lists only what is served.
 */
export class ServiceSurface {
  readonly mode: ServeMode;
  readonly #methods: Readonly<Record<string, readonly string[]>>;

  constructor(mode: ServeMode) {
    this.mode = mode;
    this.#methods = SURFACES[mode];
  }

  serves(serviceName: string, methodName: string): boolean {
    const methods = this.#methods[serviceName];
    return methods === undefined || methods.includes(methodName);
  }

  /** The registrations with each service narrowed to its served methods. */
  services<T extends { readonly service: DescService }>(registrations: readonly T[]): T[] {
    return registrations.map((r) => (this.#methods[r.service.typeName] ? { ...r, service: this.#narrow(r.service) } : r));
  }

  /** Serialized FileDescriptorProtos with the methods this mode does not serve removed from their services. */
  reflectionFiles(files: readonly Uint8Array[]): Uint8Array[] {
    return files.map((bytes) => {
      const file = fromBinary(FileDescriptorProtoSchema, bytes);
      const pkg = file.package ? `${file.package}.` : "";
      // Untouched unless a method is removed (Envoy's Authorization is listed, and keeps its one method).
      if (!file.service.some((s) => s.method.some((m) => !this.serves(pkg + s.name, m.name ?? "")))) return bytes;
      // Per service, the new index of each method kept (removed ones map to -1).
      const renumbered = file.service.map((s) => {
        let next = 0;
        return s.method.map((m) => (this.serves(pkg + s.name, m.name ?? "") ? next++ : -1));
      });
      file.service.forEach((s, i) => (s.method = s.method.filter((_, j) => renumbered[i]![j]! >= 0)));
      // Comments are located by index path (file.service[i].method[j] is [6, i, 2, j]): move the
      // kept methods' comments to their new indexes and drop the removed methods' comments.
      if (file.sourceCodeInfo) {
        file.sourceCodeInfo.location = file.sourceCodeInfo.location.flatMap((loc) => {
          const [field, service, member, method] = loc.path;
          if (field !== SERVICE_FIELD || member !== METHOD_FIELD || service === undefined || method === undefined) return [loc];
          const to = renumbered[service]?.[method] ?? -1;
          if (to < 0) return [];
          loc.path = [field, service, member, to, ...loc.path.slice(4)];
          return [loc];
        });
      }
      return toBinary(FileDescriptorProtoSchema, file);
    });
  }

  /** A view of the service descriptor with only the served methods (everything else delegates to it). */
  #narrow(service: DescService): DescService {
    const methods = service.methods.filter((m) => this.serves(service.typeName, m.name));
    return Object.create(service, {
      methods: { value: methods, enumerable: true },
      method: { value: Object.fromEntries(methods.map((m) => [m.localName, m])), enumerable: true },
    }) as DescService;
  }
}
