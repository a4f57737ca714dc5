import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DoppelError } from "../../src/domain/errors.js";
import { addressAllowed, checkWebhookUrl, guardedLookup } from "../../src/pipeline/address-guard.js";

describe("the webhook address guard", () => {
  it("refuses private, loopback, link-local and other non-public addresses", () => {
    for (const address of [
      "127.0.0.1",
      "10.0.0.1",
      "172.16.5.4",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "255.255.255.255",
      "224.0.0.1",
      "::1",
      "::",
      "fe80::1",
      "fc00::1",
      "::ffff:127.0.0.1",
      "::ffff:10.0.0.1",
    ]) {
      expect([address, addressAllowed(address, [])]).toEqual([address, false]);
    }
    for (const address of ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]) {
      expect([address, addressAllowed(address, [])]).toEqual([address, true]);
    }
    expect(addressAllowed("not an address", [])).toBe(false);
  });

  it("allows exactly the configured ranges", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), (b, c) => {
        expect(addressAllowed(`127.${b}.${c}.1`, ["127.0.0.0/8"])).toBe(true);
        expect(addressAllowed(`10.${b}.${c}.1`, ["127.0.0.0/8"])).toBe(false);
        expect(addressAllowed(`10.${b}.${c}.1`, ["10.0.0.0/8", "127.0.0.0/8"])).toBe(true);
      }),
    );
    expect(addressAllowed("::1", ["127.0.0.0/8"])).toBe(false);
    expect(addressAllowed("::1", ["::1/128"])).toBe(true);
  });

  it("checks URLs: scheme, credentials, length, resolution, and says why", async () => {
    const refused = async (url: string, why: RegExp) => {
      const error = await checkWebhookUrl("url", url, []).catch((e: unknown) => e);
      expect(error, url).toBeInstanceOf(DoppelError);
      expect((error as DoppelError).message, url).toMatch(why);
    };
    await refused("ftp://example.com/", /http/);
    await refused("not a url", /not a URL/);
    await refused("http://user:pw@example.com/", /user name or password/);
    await refused(`http://example.com/${"a".repeat(3000)}`, /longer than/);
    await refused("http://localhost:8080/", /private, loopback or link-local/);
    await refused("http://[::1]/", /private, loopback or link-local/);
    await refused("http://no-such-host.invalid/", /does not resolve/);
    expect((await checkWebhookUrl("url", "http://127.0.0.1:9/x", ["127.0.0.0/8"])).href).toBe(
      "http://127.0.0.1:9/x",
    );
  });

  it("refuses at connection time too, so a name that resolves elsewhere later is still refused", async () => {
    const lookup = guardedLookup([]);
    const error = await new Promise<NodeJS.ErrnoException | null>((resolve) =>
      lookup("localhost", { all: false }, (e) => resolve(e)),
    );
    expect(error?.code).toBe("EADDRNOTALLOWED");
    const allowed = guardedLookup(["127.0.0.0/8", "::1/128"]);
    const address = await new Promise<string>((resolve, reject) =>
      allowed("localhost", { all: false }, (e, a) => (e ? reject(e) : resolve(a as string))),
    );
    expect(["127.0.0.1", "::1"]).toContain(address);
  });
});
