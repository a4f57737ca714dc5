import querystring from "node:querystring";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  canonicalQuery,
  canonicalQueryFromRaw,
  encodeRfc3986,
  parseUrlEncoded,
} from "../../../src/auth/percent-encoding.js";
import { DoppelError } from "../../../src/domain/errors.js";
import { AWKWARD_VALUES, requireCjs } from "./support.js";

/** The signer's encoding and query canonicalisation, which its typings mark protected. */
const AKSKSigner = (
  requireCjs("@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner") as {
    AKSKSigner: {
      urlEncode(value: string): string;
      CanonicalQueryString(request: { queryParams: Record<string, unknown> }): string;
    };
  }
).AKSKSigner;
const OpenApiUtil = (requireCjs("@alicloud/openapi-util") as typeof import("@alicloud/openapi-util")).default;

/** Well-formed Unicode text, including astral characters and every ASCII punctuation mark. */
const text = fc.oneof(fc.string({ unit: "grapheme", maxLength: 16 }), fc.constantFrom(...AWKWARD_VALUES));

describe("encodeRfc3986", () => {
  it("keeps only the unreserved set and escapes the characters encodeURIComponent leaves", () => {
    expect(encodeRfc3986("AZaz09-_.~")).toBe("AZaz09-_.~");
    expect(encodeRfc3986("a b*'!()")).toBe("a%20b%2A%27%21%28%29");
    expect(encodeRfc3986("+/?#&=%")).toBe("%2B%2F%3F%23%26%3D%25");
    expect(encodeRfc3986("雪❄😀")).toBe("%E9%9B%AA%E2%9D%84%F0%9F%98%80");
  });

  it("agrees with Huawei's AKSKSigner.urlEncode and Alibaba's OpenApiUtil encoder on any text", () => {
    fc.assert(
      fc.property(text, (value) => {
        const ours = encodeRfc3986(value);
        expect(ours).toBe(AKSKSigner.urlEncode(value));
        expect(ours).toBe(OpenApiUtil.getEncodeParam(value));
      }),
    );
  });

  it("rejects an unpaired surrogate with a DoppelError rather than a URIError", () => {
    expect(() => encodeRfc3986("a\uD800b")).toThrow(DoppelError);
  });
});

describe("parseUrlEncoded", () => {
  it("decodes pairs in order, with + as space and bare names as empty values", () => {
    expect(parseUrlEncoded("b=2&a=x+y&flag&&c=%E9%9B%AA&=v", "query string")).toEqual([
      { key: "b", value: "2" },
      { key: "a", value: "x y" },
      { key: "flag", value: "" },
      { key: "c", value: "雪" },
      { key: "", value: "v" },
    ]);
    expect(parseUrlEncoded("", "query string")).toEqual([]);
  });

  it("round-trips what Node's querystring (used by both SDKs' HTTP layers) puts on the wire", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(text, text), { maxLength: 6 }), (entries) => {
        const wire = entries.map(([k, v]) => `${querystring.escape(k)}=${querystring.escape(v)}`).join("&");
        const expected = entries.map(([key, value]) => ({ key, value }));
        expect(parseUrlEncoded(wire, "query string")).toEqual(expected);
      }),
    );
  });

  it.each(["a=%", "a=%G1", "%ZZ=1", "a=%E9%9B", "a=%ED%A0%80"])(
    "reports bad escapes in %s as SIGNATURE_MALFORMED",
    (raw) => {
      try {
        parseUrlEncoded(raw, "query string");
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(DoppelError);
        expect((error as DoppelError).code).toBe("SIGNATURE_MALFORMED");
        expect((error as DoppelError).message).toContain("query string");
      }
    },
  );

  it("never throws anything but a DoppelError, whatever the input", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (raw) => {
        try {
          canonicalQueryFromRaw(raw);
        } catch (error) {
          expect(error).toBeInstanceOf(DoppelError);
        }
      }),
    );
  });
});

describe("canonicalQuery", () => {
  it("sorts by key then value and encodes both", () => {
    expect(
      canonicalQuery([
        { key: "b", value: "2" },
        { key: "a b", value: "*" },
        { key: "a", value: "z" },
        { key: "a", value: "y" },
      ]),
    ).toBe("a=y&a=z&a%20b=%2A&b=2");
  });

  it("matches Huawei's CanonicalQueryString for the wire form DefaultHttpClient sends", () => {
    const params = fc.dictionary(
      text.filter((k) => k !== "__proto__"),
      fc.oneof(text, fc.array(text, { minLength: 1, maxLength: 3 })),
      { maxKeys: 5, noNullPrototype: true },
    );
    fc.assert(
      fc.property(params, (queryParams) => {
        // Huawei sorts array values in place while signing, then axios serialises with querystring.
        const sdk = AKSKSigner.CanonicalQueryString({ queryParams });
        const wire = querystring.stringify(queryParams);
        expect(canonicalQueryFromRaw(wire)).toBe(sdk);
      }),
    );
  });
});
