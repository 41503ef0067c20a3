/** What a handler knows about the call it serves, the same for both listeners. */
export interface CallContext {
  /** The `authorization` header/metadata value, if any. */
  readonly authorization: string | undefined;
  /** Remote address as the listener saw it. */
  readonly peerAddress: string | undefined;
  readonly signal: AbortSignal;
  /** Set by handlers so the per-call log line can name the key involved (never its secret). */
  keyId?: string;
}
