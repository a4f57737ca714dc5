import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { UrlSigner } from "../../src/auth/url-signer.js";
import { isDoppelError } from "../../src/domain/errors.js";

const signer = new UrlSigner(Buffer.alloc(32, 1));
const NOW = Date.UTC(2026, 0, 1);

function parts(url: string) {
  const parsed = new URL(url, "http://x");
  return {
    path: parsed.pathname,
    expires: parsed.searchParams.get("expires") ?? undefined,
    signature: parsed.searchParams.get("signature") ?? undefined,
  };
}

function refusal(run: () => void): string {
  try {
    run();
  } catch (error) {
    if (isDoppelError(error) && error.code === "FORBIDDEN") return error.message;
    throw error;
  }
  throw new Error("expected the URL to be refused");
}

describe("signed URLs", () => {
  it("accepts its own URL until it expires", () => {
    const url = signer.sign("PUT", "/uploads/abc/cover", NOW + 60_000);
    const { path, expires, signature } = parts(url);
    expect(() => signer.verify("PUT", path, expires, signature, NOW)).not.toThrow();
    expect(refusal(() => signer.verify("PUT", path, expires, signature, NOW + 60_000))).toMatch(/expired/);
  });

  it("refuses any change of method, path, expiry or signature, and another server key", () => {
    const url = signer.sign("PUT", "/uploads/abc/training-video/1", NOW + 60_000);
    const { path, expires, signature } = parts(url);
    expect(refusal(() => signer.verify("GET", path, expires, signature, NOW))).toMatch(/does not match/);
    expect(
      refusal(() => signer.verify("PUT", "/uploads/abc/training-video/2", expires, signature, NOW)),
    ).toMatch(/does not match/);
    expect(refusal(() => signer.verify("PUT", path, String(Number(expires) + 1), signature, NOW))).toMatch(
      /does not match/,
    );
    const other = new UrlSigner(Buffer.alloc(32, 2));
    expect(refusal(() => other.verify("PUT", path, expires, signature, NOW))).toMatch(/does not match/);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 63 }), fc.constantFrom(..."0123456789abcdef"), (at, digit) => {
        const changed = `${signature?.slice(0, at)}${digit}${signature?.slice(at + 1)}`;
        fc.pre(changed !== signature);
        expect(refusal(() => signer.verify("PUT", path, expires, changed, NOW))).toMatch(/does not match/);
      }),
    );
  });

  it("takes a HEAD on a GET URL (a HEAD is a GET without the body), and on nothing else", () => {
    const get = parts(signer.sign("GET", "/downloads/abc/cover", NOW + 60_000));
    expect(() => signer.verify("HEAD", get.path, get.expires, get.signature, NOW)).not.toThrow();
    expect(refusal(() => signer.verify("HEAD", get.path, get.expires, get.signature, NOW + 60_000))).toMatch(
      /expired/,
    );
    expect(
      refusal(() => signer.verify("HEAD", "/downloads/abc/audio", get.expires, get.signature, NOW)),
    ).toMatch(/does not match/);
    const put = parts(signer.sign("PUT", "/uploads/abc/cover", NOW + 60_000));
    expect(refusal(() => signer.verify("HEAD", put.path, put.expires, put.signature, NOW))).toMatch(
      /does not match/,
    );
  });

  it("refuses missing or malformed parameters without throwing anything else", () => {
    fc.assert(
      fc.property(
        fc.option(fc.string(), { nil: undefined }),
        fc.option(fc.string(), { nil: undefined }),
        (expires, signature) => {
          expect(refusal(() => signer.verify("PUT", "/uploads/x/cover", expires, signature, NOW))).toMatch(
            /./,
          );
        },
      ),
    );
  });
});
