/** One client connection of the load generator, whatever the protocol. */
export interface Connection {
  /** Resolves once the connection is established, so connecting is not part of the measurement. */
  ready(): Promise<void>;
  /** Sends one unary call; `done` gets the gRPC status code (0 = OK) exactly once. */
  send(body: Buffer, done: (status: number) => void): void;
  close(): void;
}
