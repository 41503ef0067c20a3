import type { CliEnvironment } from "./cli-connection.js";
import type { CliStreams } from "./cli-output.js";

/** Everything a command reads from or writes to, passed in so commands never touch globals. */
export interface CliContext extends CliEnvironment, CliStreams {}
