import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { classifyUnavailable, databaseUnavailableError } from "../../src/store/database-unavailable.js";

/** An error shaped like what node-postgres, Node's net module or better-sqlite3 throw. */
const error = (message: string, code?: string) => Object.assign(new Error(message), code === undefined ? {} : { code });

describe("classifyUnavailable", () => {
  it("treats lost or refused connections and a server going away as unreachable", () => {
    const cases: Array<[Error, string]> = [
      [error("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED"), "ECONNREFUSED"],
      [error("read ECONNRESET", "ECONNRESET"), "ECONNRESET"],
      [error("terminating connection due to administrator command", "57P01"), "SQLSTATE 57P01"],
      [error("the database system is starting up", "57P03"), "SQLSTATE 57P03"],
      [error("connection failure", "08006"), "SQLSTATE 08006"],
      [error("sorry, too many clients already", "53300"), "SQLSTATE 53300"],
      [error("Connection terminated unexpectedly"), "connection terminated"],
      [error("timeout exceeded when trying to connect"), "timeout exceeded when trying to connect"],
    ];
    for (const [err, reason] of cases) assert.deepEqual(classifyUnavailable(err), { reason, unreachable: true }, err.message);
  });

  it("treats SQLite's busy lock as unavailable but not unreachable (health stays SERVING)", () => {
    assert.deepEqual(classifyUnavailable(error("database is locked", "SQLITE_BUSY")), {
      reason: "SQLITE_BUSY: another process holds the write lock",
      unreachable: false,
    });
    assert.equal(classifyUnavailable(error("database is locked", "SQLITE_BUSY_SNAPSHOT"))?.unreachable, false);
  });

  it("leaves every other error alone: constraint violations, syntax errors, bugs", () => {
    for (const err of [
      error("duplicate key value violates unique constraint", "23505"),
      error("UNIQUE constraint failed: keys.key_id", "SQLITE_CONSTRAINT_PRIMARYKEY"),
      error('syntax error at or near "selec"', "42601"),
      new TypeError("cannot read properties of undefined"),
      null,
      "a string",
    ]) {
      assert.equal(classifyUnavailable(err), undefined);
    }
  });

  it("the error callers see is UNAVAILABLE and names only the kind of failure", () => {
    const reason = classifyUnavailable(error("password authentication failed for user \"sigil\" at postgres://sigil:hunter2@db", "ECONNREFUSED"))!.reason;
    const e = databaseUnavailableError(reason);
    assert.equal(e.code, Code.Unavailable);
    assert.equal(e.rawMessage, "database unavailable (ECONNREFUSED); try again");
  });
});
