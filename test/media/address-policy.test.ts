// Which addresses an image URL may reach: public ones, and special-purpose ones only when allowlisted.
import { describe, expect, it } from "vitest";
import { AddressPolicy, isPublicAddress, normalizeHost } from "../../src/core/media/address-policy.js";

describe("isPublicAddress", () => {
  it.each([
    "127.0.0.1",
    "127.255.0.9",
    "0.0.0.0",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "224.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "::ffff:10.0.0.1",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "fe80::1%eth0",
    "[::1]",
    "ff02::1",
    "64:ff9b::a00:1",
    "2002:c0a8:101::1",
    "2001:db8::1",
    "not-an-ip",
    "",
  ])("%s is not public", (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each([
    "8.8.8.8",
    "1.1.1.1",
    "172.32.0.1",
    "192.169.0.1",
    "::ffff:8.8.8.8",
    "2606:4700:4700::1111",
    "64:ff9b::808:808",
    "2002:808:808::1",
  ])("%s is public", (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });
});

describe("AddressPolicy", () => {
  const policy = new AddressPolicy(["127.0.0.1", "Images.Internal.", "[0:0:0:0:0:0:0:1]"]);

  it("allows an allowlisted address, whatever host named it", () => {
    expect(policy.allows("127.0.0.1", "127.0.0.1")).toBe(true);
    expect(policy.allows("some.host", "127.0.0.1")).toBe(true);
    expect(policy.allows("::1", "::1")).toBe(true);
    expect(policy.allows("127.0.0.2", "127.0.0.2")).toBe(false);
  });

  it("allows any address of an allowlisted hostname, case and trailing dot aside", () => {
    expect(policy.allows("images.internal", "10.9.9.9")).toBe(true);
    expect(policy.allows("IMAGES.internal.", "192.168.0.5")).toBe(true);
    expect(policy.allows("other.internal", "10.9.9.9")).toBe(false);
  });

  it("allows public addresses without any allowlist", () => {
    expect(new AddressPolicy([]).allows("example.com", "93.184.215.14")).toBe(true);
    expect(new AddressPolicy([]).allows("localhost", "127.0.0.1")).toBe(false);
  });

  it("normalizes hosts and addresses", () => {
    expect(normalizeHost("[::FFFF:127.0.0.1]")).toBe("::ffff:7f00:1");
    expect(normalizeHost("Example.COM.")).toBe("example.com");
  });
});
