import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { detectScheme } from "../../../src/auth/detect-scheme.js";
import type { IncomingSignedRequest } from "../../../src/auth/signed-request.js";

function request(parts: Partial<IncomingSignedRequest>): IncomingSignedRequest {
  return { method: "GET", path: "/", rawQuery: "", headers: {}, body: Buffer.alloc(0), ...parts };
}

describe("detectScheme", () => {
  it.each([
    ["SDK-HMAC-SHA256 Access=A, SignedHeaders=host, Signature=00", "SDK-HMAC-SHA256"],
    ["  sdk-hmac-sha256 Access=A", "SDK-HMAC-SHA256"],
    ["ACS3-HMAC-SHA256 Credential=A,SignedHeaders=host,Signature=00", "ACS3-HMAC-SHA256"],
    ["ACS3-HMAC-SHA256", "ACS3-HMAC-SHA256"],
    ["Bearer token", undefined],
    ["ACS3-HMAC-SM3 Credential=A", undefined],
    ["", undefined],
  ])("reads Authorization %j as %s", (authorization, scheme) => {
    expect(detectScheme(request({ headers: { authorization } }))).toBe(scheme);
  });

  it("recognises X-Auth-Token, after a signing Authorization header", () => {
    expect(detectScheme(request({ headers: { "x-auth-token": "tok" } }))).toBe("TOKEN");
    expect(detectScheme(request({ headers: { "x-auth-token": " " } }))).toBeUndefined();
    expect(
      detectScheme(
        request({ headers: { "x-auth-token": "tok", authorization: "SDK-HMAC-SHA256 Access=A" } }),
      ),
    ).toBe("SDK-HMAC-SHA256");
    expect(detectScheme(request({ headers: { "x-auth-token": "tok", authorization: "Basic x" } }))).toBe(
      "TOKEN",
    );
  });

  it("recognises RPC Signature + SignatureMethod in the query or a form body", () => {
    expect(detectScheme(request({ rawQuery: "Action=X&SignatureMethod=HMAC-SHA1&Signature=abc%3D" }))).toBe(
      "HMAC-SHA1",
    );
    expect(detectScheme(request({ rawQuery: "Signature=abc" }))).toBeUndefined();
    expect(detectScheme(request({ rawQuery: "Sig%6Eature=a&SignatureMethod" }))).toBe("HMAC-SHA1");
    const form = { "content-type": "application/x-www-form-urlencoded; charset=utf-8" };
    expect(
      detectScheme(
        request({ rawQuery: "Signature=a", headers: form, body: Buffer.from("SignatureMethod=HMAC-SHA1") }),
      ),
    ).toBe("HMAC-SHA1");
    expect(
      detectScheme(
        request({
          rawQuery: "Signature=a",
          headers: { "content-type": "application/json" },
          body: Buffer.from("SignatureMethod=x"),
        }),
      ),
    ).toBeUndefined();
  });

  it("returns undefined for a request without credentials", () => {
    expect(detectScheme(request({ rawQuery: "PageNo=1" }))).toBeUndefined();
  });

  it("never throws, whatever the headers and query", () => {
    fc.assert(
      fc.property(
        fc.option(fc.string({ unit: "binary", maxLength: 40 }), { nil: undefined }),
        fc.option(fc.string({ unit: "binary", maxLength: 10 }), { nil: undefined }),
        fc.string({ unit: "binary", maxLength: 40 }),
        (authorization, token, rawQuery) => {
          detectScheme(request({ headers: { authorization, "x-auth-token": token }, rawQuery }));
        },
      ),
    );
  });
});
