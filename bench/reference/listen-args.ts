// Shared command line of the reference servers: `--port N` (0 picks a free port). Each server prints
// `listening <port>` on stdout once bound, which is how the harness knows it is ready.
export function parsePortArg(argv: readonly string[]): number {
  const index = argv.indexOf("--port");
  const port = index >= 0 ? Number(argv[index + 1]) : 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad --port ${argv[index + 1]}`);
  return port;
}

export function announceListening(port: number): void {
  process.stdout.write(`listening ${port}\n`);
}
