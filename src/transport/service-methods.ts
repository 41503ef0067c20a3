import type { DescMessage, DescService, MessageShape } from "@bufbuild/protobuf";
import type { CallContext } from "../service/call-context.js";

/**
 * A service implementation as both listeners consume it: one function per method, keyed by the
 * method's local name (issueKey, verifyKey, ...). Unary methods return a message; server-streaming
 * methods return an async iterable of messages.
 */
export type MethodHandler = (request: MessageShape<DescMessage>, ctx: CallContext) => Promise<unknown> | AsyncIterable<unknown>;
export type ServiceHandlers = Record<string, MethodHandler>;

/** Binds every method of `service` found on `impl`; fails at start-up if one is missing. */
export function bindServiceHandlers(service: DescService, impl: object): ServiceHandlers {
  const handlers: ServiceHandlers = {};
  for (const method of service.methods) {
    const fn = (impl as Record<string, unknown>)[method.localName];
    if (typeof fn !== "function") throw new Error(`${service.typeName}.${method.name} is not implemented`);
    handlers[method.localName] = (fn as MethodHandler).bind(impl);
  }
  return handlers;
}
