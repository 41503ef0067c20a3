/** Which RPCs need what, for the gRPC and Connect interceptors. */
export interface SigilMethodOptions {
  /**
   * Scopes needed per method, by path `/package.Service/Method`, or by service `package.Service`
   * for all its methods (a method's own entry adds to its service's). Methods listed nowhere need
   * a valid credential and SigilAuthOptions.requiredScopes only.
   */
  readonly scopes?: Readonly<Record<string, readonly string[]>>;
  /** Methods or services that need no credential at all (`/grpc.health.v1.Health/Check`, `grpc.reflection.v1.ServerReflection`). */
  readonly public?: readonly string[];
}

const METHOD_PATH = /^\/[A-Za-z_][\w.]*\/[A-Za-z_]\w*$/;
const SERVICE_NAME = /^[A-Za-z_][\w.]*$/;

/** What a method needs: nothing (public), or a credential with these scopes. */
export type MethodRule = { readonly public: true } | { readonly public: false; readonly scopes: readonly string[] };

/** The rule of each method path, resolved once per path (paths are the server's registered methods). */
export function methodPolicy(options: SigilMethodOptions, who: string): (path: string) => MethodRule {
  const scopes = options.scopes ?? {};
  for (const name of [...Object.keys(scopes), ...(options.public ?? [])]) {
    if (!METHOD_PATH.test(name) && !SERVICE_NAME.test(name)) {
      throw new TypeError(`${who}: ${JSON.stringify(name)} is neither a method path (/package.Service/Method) nor a service (package.Service)`);
    }
  }
  const publicNames = new Set(options.public ?? []);
  const rules = new Map<string, MethodRule>();
  return (path) => {
    let rule = rules.get(path);
    if (rule === undefined) {
      const service = path.slice(1, path.lastIndexOf("/"));
      rule = publicNames.has(path) || publicNames.has(service) ? { public: true } : { public: false, scopes: [...(scopes[service] ?? []), ...(scopes[path] ?? [])] };
      rules.set(path, rule);
    }
    return rule;
  };
}
