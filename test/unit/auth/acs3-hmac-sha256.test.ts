/**
 * Alibaba ACS3-HMAC-SHA256: valid requests are made by the real `@alicloud/openapi-client` `callApi`
 * (its default V3 signing) against a local server, and verified exactly as they arrived.
 */

import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  finishAcs3HmacSha256,
  verifyAcs3HmacSha256,
  verifyAcs3Signature,
} from "../../../src/auth/acs3-hmac-sha256.js";
import { encodeRfc3986, parseUrlEncoded } from "../../../src/auth/percent-encoding.js";
import type { IncomingSignedRequest } from "../../../src/auth/signed-request.js";
import {
  ACCESS_KEY,
  AWKWARD_VALUES,
  type Captured,
  changeChar,
  expectRejected,
  fakeWorld,
  HEX_DIGITS,
  type IceCall,
  OTHER_KEY,
  PROJECT_ID,
  principalOf,
  rejection,
  sendIceWithSdk,
  withChanges,
  withHeader,
} from "./support.js";

/** Calls ICE through the real SDK with v3 signing and captures the request. */
function sendWithSdk(call: IceCall, secret = ACCESS_KEY.secret): Promise<Captured> {
  return sendIceWithSdk(call, "v3", secret);
}

const listCall: IceCall = {
  action: "ListAvatarTrainingJobs",
  query: { PageNo: 1, PageSize: 10, Status: "Init", Name: "a b*~'!(雪" },
};
const createCall: IceCall = {
  action: "CreateAvatarTrainingJob",
  query: { AvatarName: "小明", AvatarType: "2DAvatar", Tags: ["x y", "z"] },
  body: { AvatarDescription: "long text + more & more = 100%" },
};

/** The principal every accepted request below must resolve to. */
const PRINCIPAL = principalOf("ACS3-HMAC-SHA256");

/** Fresh deps whose clock reads the moment the request arrived; another project's key is there too. */
function worldAt(req: Captured, keys = [ACCESS_KEY, OTHER_KEY]) {
  return fakeWorld(req.receivedAtMs, keys);
}

describe("verifyAcs3HmacSha256 with requests from @alicloud/openapi-client", () => {
  let list: Captured;
  let create: Captured;

  beforeAll(async () => {
    list = await sendWithSdk(listCall);
    create = await sendWithSdk(createCall);
  });

  it("accepts a query-only POST and returns the key's project", async () => {
    expect(list.headers.authorization).toMatch(
      /^ACS3-HMAC-SHA256 Credential=DOPPELAK0123456789AB,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=[0-9a-f]{64}$/,
    );
    await expect(verifyAcs3HmacSha256(list, worldAt(list).deps)).resolves.toEqual({
      projectId: PROJECT_ID,
      accessKeyId: ACCESS_KEY.accessKeyId,
      scheme: "ACS3-HMAC-SHA256",
    });
  });

  it("resolves the key the request names to that key's own project, among several", async () => {
    const other = await sendIceWithSdk(listCall, "v3", OTHER_KEY.secret, OTHER_KEY.accessKeyId);
    expect(other.headers.authorization).toContain(`Credential=${OTHER_KEY.accessKeyId},`);
    await expect(verifyAcs3HmacSha256(other, worldAt(other).deps)).resolves.toEqual(
      principalOf("ACS3-HMAC-SHA256", OTHER_KEY),
    );
  });

  it("accepts a POST with a form body, which is covered through x-acs-content-sha256", async () => {
    expect(create.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(create.headers.authorization).toContain("SignedHeaders=content-type;host;");
    await expect(verifyAcs3HmacSha256(create, worldAt(create).deps)).resolves.toEqual(PRINCIPAL);
  });

  it("verifies the signature before the body, then holds the body to the signed hash before claiming the nonce", async () => {
    const world = worldAt(create);
    const { body, ...head } = create;
    const signed = await verifyAcs3Signature(head, world.deps);
    expect(signed.principal).toEqual(PRINCIPAL);
    await expectRejected(
      finishAcs3HmacSha256(signed, Buffer.from("AvatarName=x"), world.deps),
      "SIGNATURE_MISMATCH",
    );
    expect(world.nonces.size).toBe(0);
    await expect(finishAcs3HmacSha256(signed, body, world.deps)).resolves.toEqual(PRINCIPAL);
    expect(world.nonces.size).toBe(1);
  });

  it("accepts a GET", async () => {
    const get = await sendWithSdk({ ...listCall, method: "GET" });
    await expect(verifyAcs3HmacSha256(get, worldAt(get).deps)).resolves.toEqual(PRINCIPAL);
  });

  it("claims the nonce until the request time plus the allowed skew, and refuses it the second time", async () => {
    const world = worldAt(list);
    await expect(verifyAcs3HmacSha256(list, world.deps)).resolves.toEqual(PRINCIPAL);
    const nonce = list.headers["x-acs-signature-nonce"] ?? "";
    const dateMs = Date.parse(list.headers["x-acs-date"] ?? "");
    expect(world.nonces.get(`${ACCESS_KEY.accessKeyId} ${nonce}`)).toBe(dateMs + 15 * 60_000);
    const error = await expectRejected(verifyAcs3HmacSha256(list, world.deps), "NONCE_REUSED");
    expect(error.message).toContain(nonce);
  });

  it("does not let a forged request use up a real client's nonce", async () => {
    const world = worldAt(list);
    const forged = withChanges(list, { rawQuery: `${list.rawQuery}&PageSize=100` });
    await expectRejected(verifyAcs3HmacSha256(forged, world.deps), "SIGNATURE_MISMATCH");
    await expect(verifyAcs3HmacSha256(list, world.deps)).resolves.toEqual(PRINCIPAL);
  });

  it("accepts any query values the SDK can send", async () => {
    // openapi-util leaves parameter *names* unencoded (Doppel encodes them, as Alibaba documents);
    // the two agree for every name an SDK sends, which this generator keeps to.
    const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9._-]{0,8}$/);
    const value = fc.oneof(
      fc.constantFrom(...AWKWARD_VALUES),
      fc.string({ unit: "grapheme", maxLength: 10 }),
      fc.integer(),
    );
    await fc.assert(
      fc.asyncProperty(fc.dictionary(name, value, { maxKeys: 5, noNullPrototype: true }), async (query) => {
        const req = await sendWithSdk({ action: "ListAvatars", query });
        await expect(verifyAcs3HmacSha256(req, worldAt(req).deps)).resolves.toEqual(PRINCIPAL);
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
  "signed header value",
  "body byte",
  "signature character",
  "wrong secret",
] as const;
type Tampering = (typeof TAMPERINGS)[number];

function signedHeaderNames(req: IncomingSignedRequest): string[] {
  return /SignedHeaders=([^,]+)/.exec(req.headers.authorization ?? "")?.[1]?.split(";") ?? [];
}

function tamper(req: IncomingSignedRequest, kind: Tampering, n: number): IncomingSignedRequest {
  switch (kind) {
    case "method":
      return withChanges(req, { method: req.method === "POST" ? "GET" : "POST" });
    case "path":
      return withChanges(req, { path: "/x" });
    case "query value": {
      const pairs = parseUrlEncoded(req.rawQuery, "query string");
      const i = n % pairs.length;
      const changed = pairs.map((p, j) => (j === i ? { ...p, value: `${p.value}'` } : p));
      return withChanges(req, {
        rawQuery: changed.map((p) => `${encodeRfc3986(p.key)}=${encodeRfc3986(p.value)}`).join("&"),
      });
    }
    case "added query parameter":
      return withChanges(req, { rawQuery: `${req.rawQuery}&Extra=1` });
    case "signed header value": {
      const names = signedHeaderNames(req);
      const name = names[n % names.length] ?? "host";
      const value = req.headers[name] ?? "";
      if (name === "x-acs-date") {
        return withHeader(req, name, `${new Date(Date.parse(value) + 1000).toISOString().slice(0, 19)}Z`);
      }
      if (name === "x-acs-content-sha256") return withHeader(req, name, changeChar(value, n, HEX_DIGITS));
      return withHeader(req, name, `${value}x`);
    }
    case "body byte": {
      if (req.body.length === 0) return withChanges(req, { body: Buffer.from("A=1") });
      const body = Buffer.from(req.body);
      const i = n % body.length;
      body[i] = (body[i] ?? 0) ^ 0x01;
      return withChanges(req, { body });
    }
    case "signature character": {
      const auth = req.headers.authorization ?? "";
      const at = auth.indexOf("Signature=") + "Signature=".length;
      return withHeader(
        req,
        "authorization",
        `${auth.slice(0, at)}${changeChar(auth.slice(at), n, HEX_DIGITS)}`,
      );
    }
    case "wrong secret":
      return req;
  }
}

describe("verifyAcs3HmacSha256 rejects changed requests", () => {
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
            verifyAcs3HmacSha256(tamper(original, kind, n), worldAt(original, keys).deps),
            "SIGNATURE_MISMATCH",
          );
          const expectedSignature =
            /Signature=([0-9a-f]{64})/.exec(original.headers.authorization ?? "")?.[1] ?? "";
          expect(error.message).not.toContain(ACCESS_KEY.secret);
          if (kind !== "wrong secret") expect(error.message).not.toContain(expectedSignature);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("explains a body that does not match x-acs-content-sha256", async () => {
    const create = samples[1] as Captured;
    const error = await expectRejected(
      verifyAcs3HmacSha256(
        withChanges(create, { body: Buffer.from("AvatarDescription=x") }),
        worldAt(create).deps,
      ),
      "SIGNATURE_MISMATCH",
    );
    expect(error.message).toContain("x-acs-content-sha256");
    expect(error.message).toContain("19-byte body");
  });

  it("refuses an unsigned x-acs-* header, which could otherwise rewrite the action", async () => {
    const list = samples[0] as Captured;
    const error = await expectRejected(
      verifyAcs3HmacSha256(withHeader(list, "x-acs-extra", "1"), worldAt(list).deps),
      "SIGNATURE_MALFORMED",
    );
    expect(error.message).toContain("x-acs-extra");
  });

  it("ignores headers the SDK does not sign (user-agent, accept)", async () => {
    const list = samples[0] as Captured;
    const changed = withHeader(withHeader(list, "user-agent", "curl/8"), "accept", "*/*");
    await expect(verifyAcs3HmacSha256(changed, worldAt(list).deps)).resolves.toEqual(PRINCIPAL);
  });
});

describe("verifyAcs3HmacSha256 checks time, nonce and keys", () => {
  let req: Captured;
  let dateMs: number;

  beforeAll(async () => {
    req = await sendWithSdk(listCall);
    dateMs = Date.parse(req.headers["x-acs-date"] ?? "");
  });

  it("accepts 15 minutes of skew and rejects more with TIMESTAMP_EXPIRED", async () => {
    await expect(verifyAcs3HmacSha256(req, fakeWorld(dateMs + 15 * 60_000).deps)).resolves.toEqual(PRINCIPAL);
    const error = await expectRejected(
      verifyAcs3HmacSha256(req, fakeWorld(dateMs + 16 * 60_000).deps),
      "TIMESTAMP_EXPIRED",
    );
    expect(error.message).toContain(
      `x-acs-date ${req.headers["x-acs-date"]} is 16 minutes away from server time`,
    );
    await expectRejected(
      verifyAcs3HmacSha256(req, fakeWorld(dateMs - 16 * 60_000).deps),
      "TIMESTAMP_EXPIRED",
    );
  });

  it("rejects missing or malformed x-acs-* values", async () => {
    const { deps } = fakeWorld(dateMs);
    for (const name of ["x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"]) {
      await expectRejected(verifyAcs3HmacSha256(withHeader(req, name, undefined), deps), "MISSING_PARAMETER");
    }
    for (const bad of [
      "20240101T000000Z",
      "2024-02-30T00:00:00Z",
      "2024-01-01T00:00:00.000Z",
      "2024-01-01 00:00:00Z",
    ]) {
      await expectRejected(
        verifyAcs3HmacSha256(withHeader(req, "x-acs-date", bad), deps),
        "TIMESTAMP_MALFORMED",
      );
    }
    // The nonce store holds 255 printable ASCII characters; anything else must not reach it.
    for (const nonce of ["n".repeat(256), "n\u0001n", "naïve", "a b"]) {
      await expectRejected(
        verifyAcs3HmacSha256(withHeader(req, "x-acs-signature-nonce", nonce), deps),
        "SIGNATURE_MALFORMED",
      );
    }
  });

  it("rejects an unknown access key with ACCESS_KEY_NOT_FOUND", async () => {
    await expectRejected(verifyAcs3HmacSha256(req, fakeWorld(dateMs, []).deps), "ACCESS_KEY_NOT_FOUND");
  });
});

describe("verifyAcs3HmacSha256 rejects garbage", () => {
  const sig = "0".repeat(64);
  const base: IncomingSignedRequest = {
    method: "POST",
    path: "/",
    rawQuery: "",
    headers: {
      host: "h",
      "x-acs-date": "2024-01-01T00:00:00Z",
      "x-acs-signature-nonce": "n1",
      "x-acs-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    },
    body: Buffer.alloc(0),
  };
  const deps = fakeWorld(Date.UTC(2024, 0, 1)).deps;

  it.each([
    undefined,
    "ACS3-HMAC-SHA256",
    `ACS3-HMAC-SM3 Credential=A,SignedHeaders=host,Signature=${sig}`,
    "ACS3-HMAC-SHA256 Credential=A,SignedHeaders=host",
    `ACS3-HMAC-SHA256 Credential=A,SignedHeaders=host,Signature=${sig.slice(1)}`,
    `ACS3-HMAC-SHA256 Credential=A,SignedHeaders=,Signature=${sig}`,
    `ACS3-HMAC-SHA256 Credential=A,SignedHeaders=host,Signature=${sig},Extra=1`,
    `ACS3-HMAC-SHA256 Access=A,SignedHeaders=host,Signature=${sig}`,
  ])("answers SIGNATURE_MALFORMED to Authorization %j", async (authorization) => {
    const error = await expectRejected(
      verifyAcs3HmacSha256(withHeader(base, "authorization", authorization), deps),
      "SIGNATURE_MALFORMED",
    );
    expect(error.message).toContain("ACS3-HMAC-SHA256 Credential=<AccessKeyId>");
  });

  it("answers SIGNATURE_MALFORMED to any text after the algorithm name", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "binary", maxLength: 120 }), async (rest) => {
        await expectRejected(
          verifyAcs3HmacSha256(withHeader(base, "authorization", `ACS3-HMAC-SHA256 ${rest}`), deps),
          "SIGNATURE_MALFORMED",
        );
      }),
    );
  });

  it("only ever rejects with a DoppelError, whatever the request", async () => {
    const signedAll = `ACS3-HMAC-SHA256 Credential=${ACCESS_KEY.accessKeyId},SignedHeaders=host;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce,Signature=${sig}`;
    const request = fc.record({
      method: fc.constantFrom("GET", "POST", ""),
      path: fc.oneof(fc.constant("/"), fc.string({ unit: "binary", maxLength: 20 })),
      rawQuery: fc.string({ unit: "binary", maxLength: 40 }),
      headers: fc.record({
        authorization: fc.oneof(fc.string({ unit: "binary", maxLength: 60 }), fc.constant(signedAll)),
        host: fc.string({ maxLength: 8 }),
        "x-acs-date": fc.oneof(
          fc.constant("2024-01-01T00:00:00Z"),
          fc.string({ unit: "binary", maxLength: 20 }),
        ),
        "x-acs-signature-nonce": fc.string({ unit: "binary", maxLength: 10 }),
        "x-acs-content-sha256": fc.constantFrom(
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
          "zz",
        ),
      }),
      body: fc.constant(Buffer.alloc(0)),
    });
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        await rejection(verifyAcs3HmacSha256(req, deps));
      }),
    );
  });
});
