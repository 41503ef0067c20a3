import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ClientNetworks, NetworkSyntaxError, parseAllowedNetworks, parseClientIp } from "../../src/usage/client-networks.js";

describe("allowed client networks", () => {
  it("canonicalizes IPv4 and IPv6 networks and single addresses", () => {
    assert.deepEqual(
      parseAllowedNetworks([
        "10.0.0.0/8",
        "192.168.1.7",
        "0.0.0.0/0",
        "2001:0DB8:0000:0000::/32",
        "::1",
        "::/0",
        "fe80::/10",
        "2001:db8:0:0:1:0:0:0/80",
        "::ffff:10.0.0.0/104",
        "1:0:0:2:0:0:0:3",
      ]),
      [
        "10.0.0.0/8",
        "192.168.1.7/32",
        "0.0.0.0/0",
        "2001:db8::/32",
        "::1/128",
        "::/0",
        "fe80::/10",
        "2001:db8:0:0:1::/80",
        "::ffff:a00:0/104",
        "1:0:0:2::3/128",
      ],
    );
    assert.deepEqual(parseAllowedNetworks(["10.0.0.0/8", "10.0.0.0/8"]), ["10.0.0.0/8"]);
  });

  it("refuses host bits, bad prefixes and non-addresses, naming the entry", () => {
    const cases: Array<[string, RegExp]> = [
      ["10.1.2.3/8", /^\[0\]: host bits are set; the network is 10\.0\.0\.0\/8$/],
      ["2001:db8::1/32", /the network is 2001:db8::\/32/],
      ["10.0.0.0/33", /prefix length must be 0 to 32/],
      ["::/129", /prefix length must be 0 to 128/],
      ["10.0.0.0/", /prefix length/],
      ["10.0.0.0/-1", /prefix length/],
      ["10.0.0.0/08x", /prefix length/],
      ["example.com", /not an IPv4 or IPv6 network/],
      ["10.0.0", /not an IPv4 or IPv6 network/],
      ["", /1 to 64 characters/],
    ];
    for (const [entry, message] of cases) {
      assert.throws(() => parseAllowedNetworks([entry]), (err: Error) => err instanceof NetworkSyntaxError && message.test(err.message), entry);
    }
    assert.throws(() => parseAllowedNetworks(Array.from({ length: 65 }, (_, i) => `10.${i}.0.0/16`)), /at most 64/);
  });

  it("matches client addresses, IPv4-mapped IPv6 against IPv4 networks, and fails closed without one", () => {
    const networks = ClientNetworks.of(parseAllowedNetworks(["10.0.0.0/8", "2001:db8::/32", "203.0.113.5"]));
    const allows = (ip: string) => networks.allows(parseClientIp(ip));
    assert.equal(allows("10.0.0.1"), true);
    assert.equal(allows("9.255.255.255"), false);
    assert.equal(allows("203.0.113.5"), true);
    assert.equal(allows("203.0.113.6"), false);
    assert.equal(allows("2001:db8:1234::1"), true);
    assert.equal(allows("2001:db9::1"), false);
    assert.equal(allows("::ffff:10.1.1.1"), true);
    assert.equal(allows("fe80::1%eth0"), false);
    assert.equal(networks.allows(undefined), false);
    assert.equal(parseClientIp(""), undefined);
    assert.throws(() => parseClientIp("10.0.0.256"), NetworkSyntaxError);
    assert.throws(() => parseClientIp("x".repeat(65)), NetworkSyntaxError);
  });
});
