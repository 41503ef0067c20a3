import type { DescMessage, DescService, MessageShape } from "@bufbuild/protobuf";
import type { CallContext } from "../service/call-context.js";

/**
 * A service implementation as both listeners consume it: one function per method, keyed by the
 * method's local name (issueKey, verifyKey, ...). Unary methods return a message; server-streaming
 * methods return an async iterable of messages.
 */
export type MethodHandler = (request: MessageShape<DescMessage>, ctx: CallContext) => Promise<unknown> | AsyncIterable<unknown>;
export type ServiceHandlers = Record<string, MethodHandler>;

/**
 * Binds every method of `service` to the first of `impls` that implements it (the service is
 * split by concern into several classes); fails at start-up if a method has no implementation.
 */
export function bindServiceHandlers(service: DescService, impls: readonly object[]): ServiceHandlers {
  const handlers: ServiceHandlers = {};
  for (const method of service.methods) {
    const impl = impls.find((i) => typeof (i as Record<string, unknown>)[method.localName] === "function");
    if (!impl) throw new Error(`${service.typeName}.${method.name} is not implemented`);
    handlers[method.localName] = ((impl as Record<string, unknown>)[method.localName] as MethodHandler).bind(impl);
  }
  return handlers;
}
