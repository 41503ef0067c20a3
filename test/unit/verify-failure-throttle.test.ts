import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PEER_FACTOR, throttleClientOf, VerifyFailureThrottle, type ThrottleClient } from "../../src/service/verify-failure-throttle.js";

const settings = { burst: 5, refillMs: 1000, maxClients: 1000 };
const client = (n: number): ThrottleClient => throttleClientOf(undefined, `10.0.${n >> 8}.${n & 255}:4000`)!;

describe("VerifyFailureThrottle", () => {
  it("charges before the check, so concurrent guesses cannot all pass before the first failure counts", () => {
    const t = new VerifyFailureThrottle(settings);
    const c = client(1);
    const admissions = Array.from({ length: 8 }, (_, i) => t.begin(c, `guess${i}`, 0));
    assert.deepEqual(admissions, ["charged", "charged", "charged", "charged", "charged", "refused", "refused", "refused"]);
  });

  it("gives a match its charge back and keeps answering strings the client knows", () => {
    const t = new VerifyFailureThrottle(settings);
    const c = client(2);
    assert.equal(t.begin(c, "valid", 0), "charged");
    t.settle(c, "valid", "charged", "matched", 0);
    for (let i = 0; i < 5; i++) t.settle(c, `g${i}`, t.begin(c, `g${i}`, 0), "unmatched", 0);
    assert.equal(t.begin(c, "another guess", 0), "refused");
    assert.equal(t.begin(c, "valid", 0), "known", "a string it verified before is still checked");
    // One more try per refill interval.
    assert.equal(t.begin(c, "later guess", 1000), "charged");
    assert.equal(t.begin(c, "next guess", 1000), "refused");
    // A failed lookup (database down) is not counted against the client.
    const d = client(3);
    for (let i = 0; i < 10; i++) t.settle(d, "x", t.begin(d, "x", 0), "unchecked", 0);
    assert.equal(t.begin(d, "y", 0), "charged");
  });

  it("holds a caller that makes up client_ip values to its own, larger allowance", () => {
    const t = new VerifyFailureThrottle(settings);
    let checked = 0;
    for (let i = 0; i < 1000; i++) {
      const c = throttleClientOf({ address: `192.0.2.${i % 250}`, family: "ipv4" }, "198.51.100.1:5555")!;
      const a = t.begin({ ...c, id: `${c.id}-${i}` }, `g${i}`, 0);
      if (a === "charged") checked++;
    }
    assert.equal(checked, settings.burst * PEER_FACTOR);
  });

  it("tracks at most maxClients clients", () => {
    const t = new VerifyFailureThrottle({ ...settings, maxClients: 100 });
    for (let i = 0; i < 5000; i++) t.settle(client(i), "g", t.begin(client(i), "g", 0), "unmatched", 0);
    assert.ok(t.trackedClients <= 100, `${t.trackedClients} tracked`);
  });
});

describe("throttleClientOf", () => {
  it("names a client by its reported client_ip, else by the caller's address without the port", () => {
    assert.deepEqual(throttleClientOf(undefined, "127.0.0.1:51234"), { id: "caller 127.0.0.1", peer: undefined });
    assert.deepEqual(throttleClientOf(undefined, "127.0.0.1"), { id: "caller 127.0.0.1", peer: undefined });
    assert.deepEqual(throttleClientOf(undefined, "::ffff:127.0.0.1"), { id: "caller 127.0.0.1", peer: undefined });
    assert.deepEqual(throttleClientOf({ address: "203.0.113.7", family: "ipv4" }, "[::1]:4000"), { id: "client 203.0.113.7", peer: "via 0:0:0:0::/64" });
    assert.equal(throttleClientOf(undefined, undefined), undefined);
    assert.equal(throttleClientOf(undefined, "unknown"), undefined);
  });

  it("counts IPv6 clients per /64", () => {
    const a = throttleClientOf({ address: "2001:db8:1:2::1", family: "ipv6" }, undefined)!;
    const b = throttleClientOf({ address: "2001:0db8:0001:0002:ffff:ffff:ffff:ffff", family: "ipv6" }, undefined)!;
    const c = throttleClientOf({ address: "2001:db8:1:3::1", family: "ipv6" }, undefined)!;
    assert.equal(a.id, "client 2001:db8:1:2::/64");
    assert.equal(b.id, a.id);
    assert.notEqual(c.id, a.id);
    assert.equal(throttleClientOf(undefined, "[2001:db8:1:2::9]:443")!.id, "caller 2001:db8:1:2::/64");
    assert.equal(throttleClientOf({ address: "::ffff:10.1.2.3", family: "ipv6" }, undefined)!.id, "client 10.1.2.3");
  });
});
