/**
 * Alibaba RPC v1 HMAC-SHA1: valid requests are made by the real `@alicloud/openapi-client` `callApi`
 * configured with `signatureAlgorithm: 'v2'` (which routes RPC calls to `doRPCRequest`), against a
 * local server, and verified exactly as they arrived.
 */

import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { encodeRfc3986, parseUrlEncoded } from "../../../src/auth/percent-encoding.js";
import { checkRpcV1Head, verifyRpcV1HmacSha1 } from "../../../src/auth/rpc-v1-hmac-sha1.js";
import type { IncomingSignedRequest } from "../../../src/auth/signed-request.js";
import {
  ACCESS_KEY,
  AWKWARD_VALUES,
  BASE64_DIGITS,
  type Captured,
  changeChar,
  expectRejected,
  fakeWorld,
  type IceCall,
  OTHER_KEY,
  PROJECT_ID,
  principalOf,
  rejection,
  sendIceWithSdk,
  withChanges,
  withHeader,
} from "./support.js";

/** Calls ICE through the real SDK with v2 signing and captures the request. */
function sendWithSdk(call: IceCall, secret = ACCESS_KEY.secret): Promise<Captured> {
  return sendIceWithSdk(call, "v2", secret);
}

const listCall: IceCall = {
  action: "ListAvatarTrainingJobs",
  query: { PageNo: 1, PageSize: 10, Name: "a b*~'!(雪" },
};
const createCall: IceCall = {
  action: "CreateAvatarTrainingJob",
  query: { AvatarName: "小明", Tags: ["x y", "z"] },
  body: { AvatarDescription: "long text + more & more = 100%", Video: "abc123" },
};

/** The principal every accepted request below must resolve to. */
const PRINCIPAL = principalOf("HMAC-SHA1");

/** Fresh deps whose clock reads the moment the request arrived; another project's key is there too. */
function worldAt(req: Captured, keys = [ACCESS_KEY, OTHER_KEY]) {
  return fakeWorld(req.receivedAtMs, keys);
}

function queryParam(req: IncomingSignedRequest, name: string): string {
  return parseUrlEncoded(req.rawQuery, "query string").find((p) => p.key === name)?.value ?? "";
}

describe("verifyRpcV1HmacSha1 with requests from @alicloud/openapi-client (signatureAlgorithm v2)", () => {
  let list: Captured;
  let create: Captured;

  beforeAll(async () => {
    list = await sendWithSdk(listCall);
    create = await sendWithSdk(createCall);
  });

  it("accepts a query-only call and returns the key's project", async () => {
    expect(queryParam(list, "SignatureMethod")).toBe("HMAC-SHA1");
    expect(queryParam(list, "Format")).toBe("json");
    await expect(verifyRpcV1HmacSha1(list, worldAt(list).deps)).resolves.toEqual({
      projectId: PROJECT_ID,
      accessKeyId: ACCESS_KEY.accessKeyId,
      scheme: "HMAC-SHA1",
    });
  });

  it("resolves the key the request names to that key's own project, among several", async () => {
    const other = await sendIceWithSdk(listCall, "v2", OTHER_KEY.secret, OTHER_KEY.accessKeyId);
    expect(queryParam(other, "AccessKeyId")).toBe(OTHER_KEY.accessKeyId);
    await expect(verifyRpcV1HmacSha1(other, worldAt(other).deps)).resolves.toEqual(
      principalOf("HMAC-SHA1", OTHER_KEY),
    );
  });

  it("accepts a POST whose form body is signed together with the query", async () => {
    expect(create.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(create.body.toString()).toContain("AvatarDescription=");
    await expect(verifyRpcV1HmacSha1(create, worldAt(create).deps)).resolves.toEqual(PRINCIPAL);
  });

  it("checks the query's common parameters before a form body arrives; the body's are left for later", async () => {
    const { body: _body, ...head } = create;
    await expect(checkRpcV1Head(head, true, worldAt(create).deps)).resolves.toBeUndefined();
    // Only Action and Version in the query: nothing to refuse yet, whatever the body will hold.
    await expect(
      checkRpcV1Head(
        { ...head, rawQuery: "Action=ListAvatarTrainingJobs&Version=2020-11-09" },
        true,
        worldAt(create).deps,
      ),
    ).resolves.toBeUndefined();
    await expectRejected(checkRpcV1Head(head, true, worldAt(create, []).deps), "ACCESS_KEY_NOT_FOUND");
    await expectRejected(
      checkRpcV1Head(head, true, fakeWorld(create.receivedAtMs + 16 * 60_000).deps),
      "TIMESTAMP_EXPIRED",
    );
    await expectRejected(
      checkRpcV1Head(withHeader(create, "content-type", "application/json"), true, worldAt(create).deps),
      "SIGNATURE_MALFORMED",
    );
  });

  it("accepts a GET", async () => {
    const get = await sendWithSdk({ ...listCall, method: "GET" });
    await expect(verifyRpcV1HmacSha1(get, worldAt(get).deps)).resolves.toEqual(PRINCIPAL);
  });

  it("refuses a reused SignatureNonce, and a forged request cannot burn the nonce first", async () => {
    const world = worldAt(list);
    const forged = withChanges(list, { rawQuery: list.rawQuery.replace("PageSize=10", "PageSize=100") });
    await expectRejected(verifyRpcV1HmacSha1(forged, world.deps), "SIGNATURE_MISMATCH");
    await expect(verifyRpcV1HmacSha1(list, world.deps)).resolves.toEqual(PRINCIPAL);
    const error = await expectRejected(verifyRpcV1HmacSha1(list, world.deps), "NONCE_REUSED");
    expect(error.message).toContain(queryParam(list, "SignatureNonce"));
  });

  it("does not cover the x-acs-action header the SDK also sends: routing must use the Action parameter", async () => {
    expect(list.headers["x-acs-action"]).toBe("ListAvatarTrainingJobs");
    const changed = withHeader(list, "x-acs-action", "DeleteAvatarTrainingJob");
    await expect(verifyRpcV1HmacSha1(changed, worldAt(list).deps)).resolves.toEqual(PRINCIPAL);
  });

  it("accepts a signature whose + was sent unencoded (and so decoded as a space)", async () => {
    const signature = queryParam(list, "Signature");
    const rawQuery = list.rawQuery.replace(
      /Signature=[^&]*/,
      `Signature=${encodeRfc3986(signature).replaceAll("%2B", "+")}`,
    );
    await expect(verifyRpcV1HmacSha1(withChanges(list, { rawQuery }), worldAt(list).deps)).resolves.toEqual(
      PRINCIPAL,
    );
  });

  it("accepts any query and form values the SDK can send", async () => {
    const name = fc.stringMatching(/^K[A-Za-z0-9._-]{0,8}$/);
    const value = fc.oneof(
      fc.constantFrom(...AWKWARD_VALUES),
      fc.string({ unit: "grapheme", maxLength: 10 }),
      fc.integer(),
    );
    const dict = fc.dictionary(name, value, { maxKeys: 4, noNullPrototype: true });
    await fc.assert(
      fc.asyncProperty(dict, dict, async (query, body) => {
        // The SDK signs one merged map; a name in both places is refused by design (see the verifier).
        const bodyOnly = Object.fromEntries(Object.entries(body).map(([k, v]) => [`B${k}`, v]));
        const req = await sendWithSdk({
          action: "ListAvatars",
          query,
          ...(Object.keys(bodyOnly).length > 0 ? { body: bodyOnly } : {}),
        });
        await expect(verifyRpcV1HmacSha1(req, worldAt(req).deps)).resolves.toEqual(PRINCIPAL);
      }),
      { numRuns: 25 },
    );
  });
});

const TAMPERINGS = [
  "method",
  "path",
  "query value",
  "added query parameter",
  "body byte",
  "signature character",
  "wrong secret",
] as const;
type Tampering = (typeof TAMPERINGS)[number];

/** Parameters whose change is reported as something other than a mismatch (covered elsewhere). */
const NOT_TAMPERED = new Set([
  "Signature",
  "Timestamp",
  "SignatureMethod",
  "SignatureVersion",
  "AccessKeyId",
]);

function tamper(req: IncomingSignedRequest, kind: Tampering, n: number): IncomingSignedRequest {
  switch (kind) {
    case "method":
      return withChanges(req, { method: req.method === "POST" ? "GET" : "POST" });
    case "path":
      return withChanges(req, { path: "/ice" });
    case "query value": {
      const pairs = parseUrlEncoded(req.rawQuery, "query string");
      const candidates = pairs.filter((p) => !NOT_TAMPERED.has(p.key));
      const target = candidates[n % candidates.length]?.key;
      const changed = pairs.map((p) => (p.key === target ? { ...p, value: `${p.value}(` } : p));
      return withChanges(req, {
        rawQuery: changed.map((p) => `${encodeRfc3986(p.key)}=${encodeRfc3986(p.value)}`).join("&"),
      });
    }
    case "added query parameter":
      return withChanges(req, { rawQuery: `${req.rawQuery}&Extra=1` });
    case "body byte": {
      // Change one letter or digit of the form body, keeping it a valid form.
      const body = req.body.length === 0 ? Buffer.from("Extra=1") : Buffer.from(req.body);
      const positions = [...body.keys()].filter((i) => /[A-Za-z0-9]/.test(String.fromCharCode(body[i] ?? 0)));
      const i = positions[n % positions.length] ?? 0;
      body[i] = (body[i] ?? 0) === 0x30 ? 0x31 : 0x30;
      return withChanges(req, {
        body,
        headers: { ...req.headers, "content-type": "application/x-www-form-urlencoded" },
      });
    }
    case "signature character": {
      const signature = queryParam(req, "Signature");
      const changed = changeChar(signature, n % 27, BASE64_DIGITS);
      return withChanges(req, {
        rawQuery: req.rawQuery.replace(/Signature=[^&]*/, `Signature=${encodeRfc3986(changed)}`),
      });
    }
    case "wrong secret":
      return req;
  }
}

describe("verifyRpcV1HmacSha1 rejects changed requests", () => {
  let samples: Captured[];

  beforeAll(async () => {
    samples = [await sendWithSdk(listCall), await sendWithSdk(createCall)];
  });

  it("answers SIGNATURE_MISMATCH to every kind of tampering", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(0, 1),
        fc.constantFrom(...TAMPERINGS),
        fc.nat(),
        async (sample, kind, n) => {
          const original = samples[sample] as Captured;
          const keys = kind === "wrong secret" ? [{ ...ACCESS_KEY, secret: "another-secret" }] : undefined;
          const error = await expectRejected(
            verifyRpcV1HmacSha1(tamper(original, kind, n), worldAt(original, keys).deps),
            "SIGNATURE_MISMATCH",
          );
          expect(error.message).not.toContain(ACCESS_KEY.secret);
          if (kind !== "wrong secret") {
            const expected = queryParam(original, "Signature");
            expect(error.message).not.toContain(expected);
            expect(error.message).not.toContain(encodeRfc3986(expected));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("accepts only the exact Base64 spelling of the signature", async () => {
    // The last digit before `=` carries two unused bits: 4 spellings decode to the same bytes.
    const list = samples[0] as Captured;
    const signature = queryParam(list, "Signature");
    const last = signature[26] ?? "A";
    const sibling = BASE64_DIGITS[BASE64_DIGITS.indexOf(last) ^ 1] ?? "A";
    const variant = `${signature.slice(0, 26)}${sibling}=`;
    expect(Buffer.from(variant, "base64").equals(Buffer.from(signature, "base64"))).toBe(true);
    const rawQuery = list.rawQuery.replace(/Signature=[^&]*/, `Signature=${encodeRfc3986(variant)}`);
    await expectRejected(
      verifyRpcV1HmacSha1(withChanges(list, { rawQuery }), worldAt(list).deps),
      "SIGNATURE_MISMATCH",
    );
  });

  it("mentions the path when the request did not go to /", async () => {
    const list = samples[0] as Captured;
    const error = await expectRejected(
      verifyRpcV1HmacSha1(withChanges(list, { path: "/ice" }), worldAt(list).deps),
      "SIGNATURE_MISMATCH",
    );
    expect(error.message).toContain("path /");
  });

  it("refuses a parameter sent twice, so an unsigned copy cannot sit next to a signed one", async () => {
    const create = samples[1] as Captured;
    const doubled = withChanges(create, { rawQuery: `${create.rawQuery}&Video=other` });
    const error = await expectRejected(
      verifyRpcV1HmacSha1(doubled, worldAt(create).deps),
      "SIGNATURE_MALFORMED",
    );
    expect(error.message).toContain("Video");
  });

  it("refuses a body that is not a form, because the signature would not cover it", async () => {
    const list = samples[0] as Captured;
    const withJson = withHeader(
      withChanges(list, { body: Buffer.from('{"PageSize":100}') }),
      "content-type",
      "application/json",
    );
    await expectRejected(verifyRpcV1HmacSha1(withJson, worldAt(list).deps), "SIGNATURE_MALFORMED");
  });
});

describe("verifyRpcV1HmacSha1 checks parameters, time and keys", () => {
  let req: Captured;
  let timestampMs: number;

  function replaceParam(name: string, value: string | undefined): IncomingSignedRequest {
    const pairs = parseUrlEncoded(req.rawQuery, "query string").filter(
      (p) => value !== undefined || p.key !== name,
    );
    const rawQuery = pairs
      .map(
        (p) =>
          `${encodeRfc3986(p.key)}=${encodeRfc3986(p.key === name && value !== undefined ? value : p.value)}`,
      )
      .join("&");
    return withChanges(req, { rawQuery });
  }

  beforeAll(async () => {
    req = await sendWithSdk(listCall);
    timestampMs = Date.parse(queryParam(req, "Timestamp"));
  });

  it("accepts 15 minutes of skew and rejects more with TIMESTAMP_EXPIRED", async () => {
    await expect(verifyRpcV1HmacSha1(req, fakeWorld(timestampMs - 15 * 60_000).deps)).resolves.toEqual(
      PRINCIPAL,
    );
    const error = await expectRejected(
      verifyRpcV1HmacSha1(req, fakeWorld(timestampMs + 20 * 60_000).deps),
      "TIMESTAMP_EXPIRED",
    );
    expect(error.message).toContain(
      `Timestamp ${queryParam(req, "Timestamp")} is 20 minutes away from server time`,
    );
  });

  it.each(["Signature", "AccessKeyId", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp"])(
    "answers MISSING_PARAMETER when %s is absent",
    async (name) => {
      const error = await expectRejected(
        verifyRpcV1HmacSha1(replaceParam(name, undefined), worldAt(req).deps),
        "MISSING_PARAMETER",
      );
      expect(error.message).toContain(name);
    },
  );

  it("rejects other signature methods, versions and malformed values", async () => {
    const { deps } = worldAt(req);
    await expectRejected(
      verifyRpcV1HmacSha1(replaceParam("SignatureMethod", "HMAC-SHA256"), deps),
      "SIGNATURE_MALFORMED",
    );
    await expectRejected(
      verifyRpcV1HmacSha1(replaceParam("SignatureVersion", "2.0"), deps),
      "SIGNATURE_MALFORMED",
    );
    await expectRejected(verifyRpcV1HmacSha1(replaceParam("Signature", "abc"), deps), "SIGNATURE_MALFORMED");
    await expectRejected(
      verifyRpcV1HmacSha1(replaceParam("AccessKeyId", "has space"), deps),
      "SIGNATURE_MALFORMED",
    );
    for (const bad of ["2024-01-01", "2024-01-01T00:00:00+08:00", "2024-13-01T00:00:00Z", "1704067200"]) {
      await expectRejected(verifyRpcV1HmacSha1(replaceParam("Timestamp", bad), deps), "TIMESTAMP_MALFORMED");
    }
  });

  it("rejects an unknown access key with ACCESS_KEY_NOT_FOUND", async () => {
    await expectRejected(verifyRpcV1HmacSha1(req, fakeWorld(timestampMs, []).deps), "ACCESS_KEY_NOT_FOUND");
  });

  it("only ever rejects with a DoppelError, whatever the query and body", async () => {
    const valid = `SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=${ACCESS_KEY.accessKeyId}&SignatureNonce=n&Timestamp=2024-01-01T00%3A00%3A00Z&Signature=${encodeRfc3986("A".repeat(27))}%3D`;
    const deps = fakeWorld(Date.UTC(2024, 0, 1)).deps;
    const request = fc.record({
      method: fc.constantFrom("GET", "POST"),
      path: fc.oneof(fc.constant("/"), fc.string({ unit: "binary", maxLength: 10 })),
      rawQuery: fc.oneof(
        fc.string({ unit: "binary", maxLength: 60 }),
        fc.string({ unit: "binary", maxLength: 20 }).map((extra) => `${valid}&${extra}`),
      ),
      headers: fc.record({
        "content-type": fc.constantFrom(
          "application/x-www-form-urlencoded",
          "application/json",
          "text/plain",
        ),
      }),
      body: fc.string({ unit: "binary", maxLength: 30 }).map((text) => Buffer.from(text)),
    });
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        await rejection(verifyRpcV1HmacSha1(r, deps));
      }),
    );
  });
});
