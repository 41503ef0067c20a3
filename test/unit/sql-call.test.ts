import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { classifySql, SqlCallClassifier } from "../../src/observability/sql-call.js";

describe("SQL call classification (metric labels and span names)", () => {
  it("names the operation and one of Sigil's tables, from Kysely's statements on both engines", () => {
    assert.deepEqual(classifySql('select "id", "secret_hash" from "keys" where "id" = ?'), { operation: "select", table: "keys" });
    assert.deepEqual(classifySql('insert into "change_feed" ("action") values ($1) returning "seq"'), { operation: "insert", table: "change_feed" });
    assert.deepEqual(classifySql('insert or ignore into "key_usage" values (?)'), { operation: "insert", table: "key_usage" });
    assert.deepEqual(classifySql('update "keys" set "last_used_time" = ?'), { operation: "update", table: "keys" });
    assert.deepEqual(classifySql('delete from "audit_events" where "time" < ?'), { operation: "delete", table: "audit_events" });
    assert.deepEqual(classifySql("BEGIN IMMEDIATE"), { operation: "begin", table: "" });
    assert.deepEqual(classifySql("with recent as (select 1) select * from \"signing_keys\""), { operation: "select", table: "signing_keys" });
  });

  it("never passes on a name it does not know, nor any text of the statement", () => {
    assert.deepEqual(classifySql('select * from "sk_live_secret_table"'), { operation: "select", table: "" });
    assert.deepEqual(classifySql("select 1"), { operation: "select", table: "" });
    assert.deepEqual(classifySql("pragma journal_mode = wal"), { operation: "other", table: "" });
    assert.deepEqual(classifySql("listen sigil_changes"), { operation: "other", table: "" });
  });

  it("memoizes a bounded number of statements", () => {
    const classifier = new SqlCallClassifier();
    for (let i = 0; i < 2000; i++) assert.equal(classifier.classify(`select * from "keys" where "id" = '${i}'`).table, "keys");
    assert.equal(classifier.classify('select * from "keys" where "id" = \'1\''), classifier.classify('select * from "keys" where "id" = \'1\''));
  });
});
