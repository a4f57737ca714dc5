/**
 * Huawei SDK-HMAC-SHA256: every valid request here was signed by the official Node.js SDK core, sent
 * through its own HTTP client (`ClientBuilder` → `HcClient` → `DefaultHttpClient`/axios) to a local
 * server, and verified exactly as it arrived.
 */

import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { encodeRfc3986, parseUrlEncoded } from "../../../src/auth/percent-encoding.js";
import { checkSdkHead, verifySdkHmacSha256, verifySdkSignature } from "../../../src/auth/sdk-hmac-sha256.js";
import type { AccessKeyRecord, IncomingSignedRequest } from "../../../src/auth/signed-request.js";
import {
  ACCESS_KEY,
  AWKWARD_VALUES,
  type Captured,
  captureOne,
  changeChar,
  expectRejected,
  fakeWorld,
  HEX_DIGITS,
  OTHER_KEY,
  PROJECT_ID,
  principalOf,
  rejection,
  requireCjs,
  withChanges,
  withHeader,
} from "./support.js";

const { ClientBuilder } = requireCjs(
  "@huaweicloud/huaweicloud-sdk-core/ClientBuilder",
) as typeof import("@huaweicloud/huaweicloud-sdk-core/ClientBuilder.js");
const { BasicCredentials } = requireCjs(
  "@huaweicloud/huaweicloud-sdk-core",
) as typeof import("@huaweicloud/huaweicloud-sdk-core");
type HcClient = import("@huaweicloud/huaweicloud-sdk-core/HcClient.js").HcClient;
type HttpRequestOptions = import("@huaweicloud/huaweicloud-sdk-core/HcClient.js").HttpRequestOptions;

const JOBS = "/v1/{project_id}/digital-human-training-manage/user/jobs";

/** The request options a generated MetaStudio client method hands to `HcClient.sendRequest`. */
interface SdkCall {
  method: string;
  url: string;
  contentType?: string;
  queryParams?: Record<string, unknown>;
  pathParams?: Record<string, string>;
  headers?: Record<string, string>;
  data?: unknown;
}

function client(hostAndPort: string, secret = ACCESS_KEY.secret, key = ACCESS_KEY): HcClient {
  const credentials = new BasicCredentials()
    .withAk(key.accessKeyId)
    .withSk(secret)
    .withProjectId(key.projectId);
  return new ClientBuilder((hc: HcClient) => hc)
    .withEndpoint(`http://${hostAndPort}`)
    .withCredential(credentials)
    .build();
}

/** Sends one call through the real SDK (signed by `key`) and returns the request the server received. */
function sendWithSdk(call: SdkCall, secret?: string, key?: AccessKeyRecord): Promise<Captured> {
  return captureOne(async (hostAndPort) => {
    // The SDK's typings demand a contentType; generated clients omit it for some DELETEs.
    await client(hostAndPort, secret, key).sendRequest({
      queryParams: {},
      pathParams: {},
      headers: {},
      ...call,
    } as HttpRequestOptions);
  });
}

const listCall: SdkCall = {
  method: "GET",
  url: JOBS,
  contentType: "application/json",
  queryParams: { offset: 0, limit: 10, name: "a b*~'!(", tag: ["z", "y"], state: "" },
  headers: { "X-App-UserId": "end-user-1" },
};

const commandCall: SdkCall = {
  method: "POST",
  url: `${JOBS}/{job_id}/command`,
  contentType: "application/json",
  pathParams: { job_id: "a1b2c3d4-0000-4000-8000-123456789abc" },
  data: { command: "SUBMITVERIFYING", comment_data: { comment_message: "雪花 ❄ ok" } },
};

/** The principal every accepted request below must resolve to. */
const PRINCIPAL = principalOf("SDK-HMAC-SHA256");

/** Fresh deps whose clock reads the moment the request arrived; another project's key is there too. */
function worldAt(req: Captured, keys = [ACCESS_KEY, OTHER_KEY]) {
  return fakeWorld(req.receivedAtMs, keys);
}

describe("verifySdkHmacSha256 with requests from the Huawei SDK", () => {
  let list: Captured;
  let command: Captured;

  beforeAll(async () => {
    list = await sendWithSdk(listCall);
    command = await sendWithSdk(commandCall);
  });

  it("accepts a GET list call and returns the key's project", async () => {
    // What HcClient signs: every header it set before signing, never User-Agent/Accept (added later).
    expect(list.headers.authorization).toMatch(
      /^SDK-HMAC-SHA256 Access=DOPPELAK0123456789AB, SignedHeaders=content-type;host;x-app-userid;x-project-id;x-sdk-date, Signature=[0-9a-f]{64}$/,
    );
    await expect(verifySdkHmacSha256(list, worldAt(list).deps)).resolves.toEqual({
      projectId: PROJECT_ID,
      accessKeyId: ACCESS_KEY.accessKeyId,
      scheme: "SDK-HMAC-SHA256",
    });
  });

  it("resolves the key the request names to that key's own project, among several", async () => {
    const other = await sendWithSdk(listCall, OTHER_KEY.secret, OTHER_KEY);
    expect(other.path).toContain(`/v1/${OTHER_KEY.projectId}/`);
    await expect(verifySdkHmacSha256(other, worldAt(other).deps)).resolves.toEqual(
      principalOf("SDK-HMAC-SHA256", OTHER_KEY),
    );
  });

  it("accepts a POST with a JSON body", async () => {
    expect(command.body.toString()).toContain("SUBMITVERIFYING");
    await expect(verifySdkHmacSha256(command, worldAt(command).deps)).resolves.toEqual(PRINCIPAL);
  });

  it("checks the head (shape, date, key) before the body, and the signature over the body after", async () => {
    const { body, ...head } = command;
    const checked = await checkSdkHead(head, worldAt(command).deps);
    expect(verifySdkSignature(checked, command)).toEqual(PRINCIPAL);
    expect(() => verifySdkSignature(checked, { ...command, body: Buffer.from(`${body} `) })).toThrow(
      /signature does not match/,
    );
    await expectRejected(checkSdkHead(head, worldAt(command, []).deps), "ACCESS_KEY_NOT_FOUND");
  });

  it("accepts the same request twice: this scheme has no nonce", async () => {
    const { deps } = worldAt(list);
    await expect(verifySdkHmacSha256(list, deps)).resolves.toEqual(PRINCIPAL);
    await expect(verifySdkHmacSha256(list, deps)).resolves.toEqual(PRINCIPAL);
  });

  it("accepts PUT and DELETE calls", async () => {
    const put = await sendWithSdk({
      method: "PUT",
      url: `${JOBS}/{job_id}`,
      contentType: "application/json",
      pathParams: { job_id: "job-1" },
      data: { name: "renamed" },
    });
    const del = await sendWithSdk({
      method: "DELETE",
      url: `${JOBS}/{job_id}`,
      pathParams: { job_id: "job-1" },
    });
    await expect(verifySdkHmacSha256(put, worldAt(put).deps)).resolves.toEqual(PRINCIPAL);
    await expect(verifySdkHmacSha256(del, worldAt(del).deps)).resolves.toEqual(PRINCIPAL);
  });

  it("signs the already-encoded path: a path parameter with a space is signed as %2520", async () => {
    const req = await sendWithSdk({ ...commandCall, pathParams: { job_id: "job 1" } });
    expect(req.path).toContain("/job%201/");
    await expect(verifySdkHmacSha256(req, worldAt(req).deps)).resolves.toEqual(PRINCIPAL);
  });

  it("treats a path with and without the trailing slash alike (the SDK strips it but signs it)", async () => {
    const req = await sendWithSdk({ ...listCall, url: `${JOBS}/` });
    expect(req.path.endsWith("/jobs")).toBe(true);
    await expect(verifySdkHmacSha256(req, worldAt(req).deps)).resolves.toEqual(PRINCIPAL);
    const slashed = withChanges(req, { path: `${req.path}/` });
    await expect(verifySdkHmacSha256(slashed, worldAt(req).deps)).resolves.toEqual(PRINCIPAL);
  });

  it("accepts X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD, which the SDK sends for non-JSON bodies", async () => {
    const upload = await sendWithSdk({
      method: "PUT",
      url: `${JOBS}/{job_id}/file`,
      contentType: "application/octet-stream",
      pathParams: { job_id: "job-1" },
      data: Buffer.from([0, 1, 2, 255]),
    });
    expect(upload.headers["x-sdk-content-sha256"]).toBe("UNSIGNED-PAYLOAD");
    const { deps } = worldAt(upload);
    await expect(verifySdkHmacSha256(upload, deps)).resolves.toEqual(PRINCIPAL);
    // By design the body is then not covered, but everything else still is.
    await expect(
      verifySdkHmacSha256(withChanges(upload, { body: Buffer.from("other") }), deps),
    ).resolves.toEqual(PRINCIPAL);
    await expectRejected(
      verifySdkHmacSha256(withChanges(upload, { method: "POST" }), deps),
      "SIGNATURE_MISMATCH",
    );
    await expectRejected(
      verifySdkHmacSha256(withHeader(upload, "x-sdk-content-sha256", undefined), deps),
      "SIGNATURE_MISMATCH",
    );
  });

  it("verifies headers in both orders the Node SDK can produce (names with _ sort differently)", async () => {
    const req = await sendWithSdk({
      ...listCall,
      headers: { "X-App-UserId": "u", "x-a_b": "1", "x-a-b": "2" },
    });
    expect(req.headers.authorization).toContain("SignedHeaders=content-type;host;x-a-b;x-a_b;x-app-userid");
    await expect(verifySdkHmacSha256(req, worldAt(req).deps)).resolves.toEqual(PRINCIPAL);
  });

  it("accepts any query values the SDK can send", async () => {
    const value = fc.oneof(
      fc.constantFrom(...AWKWARD_VALUES),
      fc.string({ unit: "grapheme", maxLength: 10 }),
    );
    const queryParams = fc.dictionary(
      fc.oneof(fc.constantFrom("name", "sort key", "a*b", "ключ"), fc.string({ minLength: 1, maxLength: 6 })),
      fc.oneof(value, fc.array(value, { minLength: 1, maxLength: 3 }), fc.integer()),
      { maxKeys: 4, noNullPrototype: true },
    );
    await fc.assert(
      fc.asyncProperty(queryParams, async (params) => {
        const req = await sendWithSdk({ ...listCall, queryParams: params });
        await expect(verifySdkHmacSha256(req, worldAt(req).deps)).resolves.toEqual(PRINCIPAL);
      }),
      { numRuns: 25 },
    );
  });
});

/** The ways a signed request can be changed after signing; each must break the signature. */
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

function shiftSdkDate(raw: string, seconds: number): string {
  const ms = Date.UTC(
    Number(raw.slice(0, 4)),
    Number(raw.slice(4, 6)) - 1,
    Number(raw.slice(6, 8)),
    Number(raw.slice(9, 11)),
    Number(raw.slice(11, 13)),
    Number(raw.slice(13, 15)),
  );
  return new Date(ms + seconds * 1000).toISOString().replace(/[-:]|\.\d{3}/g, "");
}

/** Applies one tampering; `n` picks which parameter, header or character is changed. */
function tamper(req: IncomingSignedRequest, kind: Tampering, n: number): IncomingSignedRequest {
  switch (kind) {
    case "method":
      return withChanges(req, { method: req.method === "GET" ? "POST" : "GET" });
    case "path":
      return withChanges(req, { path: req.path.replace(PROJECT_ID, `${PROJECT_ID}x`) });
    case "query value": {
      const pairs = parseUrlEncoded(req.rawQuery, "query string");
      const i = n % Math.max(pairs.length, 1);
      const changed =
        pairs.length === 0
          ? [{ key: "x", value: "1" }]
          : pairs.map((p, j) => (j === i ? { ...p, value: `${p.value}!` } : p));
      return withChanges(req, {
        rawQuery: changed.map((p) => `${encodeRfc3986(p.key)}=${encodeRfc3986(p.value)}`).join("&"),
      });
    }
    case "added query parameter":
      return withChanges(req, { rawQuery: req.rawQuery === "" ? "extra=1" : `${req.rawQuery}&extra=1` });
    case "signed header value": {
      const names = signedHeaderNames(req);
      const name = names[n % names.length] ?? "host";
      const value = req.headers[name] ?? "";
      return withHeader(req, name, name === "x-sdk-date" ? shiftSdkDate(value, 1) : `${value}x`);
    }
    case "body byte": {
      if (req.body.length === 0) return withChanges(req, { body: Buffer.from(" ") });
      const body = Buffer.from(req.body);
      const i = n % body.length;
      body[i] = (body[i] ?? 0) ^ 0x01;
      return withChanges(req, { body });
    }
    case "signature character": {
      const auth = req.headers.authorization ?? "";
      const at = auth.indexOf("Signature=") + "Signature=".length;
      const signature = auth.slice(at);
      return withHeader(req, "authorization", `${auth.slice(0, at)}${changeChar(signature, n, HEX_DIGITS)}`);
    }
    case "wrong secret":
      return req; // the world below gets another secret
  }
}

describe("verifySdkHmacSha256 rejects changed requests", () => {
  let samples: Captured[];

  beforeAll(async () => {
    samples = [await sendWithSdk(listCall), await sendWithSdk(commandCall)];
  });

  it("answers SIGNATURE_MISMATCH to every kind of tampering", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(0, 1),
        fc.constantFrom(...TAMPERINGS),
        fc.nat(),
        async (sample, kind, n) => {
          const original = samples[sample] as Captured;
          const keys =
            kind === "wrong secret" ? [{ ...ACCESS_KEY, secret: `${ACCESS_KEY.secret}0` }] : undefined;
          const error = await expectRejected(
            verifySdkHmacSha256(tamper(original, kind, n), worldAt(original, keys).deps),
            "SIGNATURE_MISMATCH",
          );
          // The message explains, but never reveals the secret or the signature Doppel expected.
          const expectedSignature =
            /Signature=([0-9a-f]{64})/.exec(original.headers.authorization ?? "")?.[1] ?? "";
          expect(error.message).not.toContain(ACCESS_KEY.secret);
          if (kind !== "wrong secret") expect(error.message).not.toContain(expectedSignature);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("says which signed header is missing", async () => {
    const error = await expectRejected(
      verifySdkHmacSha256(
        withHeader(samples[0] as Captured, "x-app-userid", undefined),
        worldAt(samples[0] as Captured).deps,
      ),
      "SIGNATURE_MISMATCH",
    );
    expect(error.message).toContain("x-app-userid");
  });

  it("refuses an X-Client-Token, X-App-UserId or X-Project-Id that is not signed", async () => {
    // A replayer could otherwise add or change them: a new client token per replay makes a new job.
    const command = samples[1] as Captured;
    for (const name of ["x-client-token", "x-app-userid", "x-project-id"]) {
      const signed = new Set(
        /SignedHeaders=([^,]+)/.exec(command.headers.authorization ?? "")?.[1]?.split(";"),
      );
      const unsigned = signed.has(name)
        ? withHeader(
            command,
            "authorization",
            (command.headers.authorization ?? "").replace(`;${name}`, "").replace(`${name};`, ""),
          )
        : withHeader(command, name, "added");
      const error = await expectRejected(
        verifySdkHmacSha256(unsigned, worldAt(command).deps),
        "SIGNATURE_MALFORMED",
      );
      expect(error.message).toContain(name);
    }
  });
});

describe("verifySdkHmacSha256 checks time and keys", () => {
  let req: Captured;
  let dateMs: number;

  beforeAll(async () => {
    req = await sendWithSdk(listCall);
    const raw = req.headers["x-sdk-date"] ?? "";
    dateMs = Date.parse(
      `${raw.slice(0, 4)}-${raw.slice(4, 6)}-${raw.slice(6, 8)}T${raw.slice(9, 11)}:${raw.slice(11, 13)}:${raw.slice(13, 15)}Z`,
    );
  });

  it("accepts exactly 15 minutes of skew either way", async () => {
    for (const offset of [-15 * 60_000, 15 * 60_000]) {
      await expect(verifySdkHmacSha256(req, fakeWorld(dateMs + offset).deps)).resolves.toEqual(PRINCIPAL);
    }
  });

  it("rejects more than 15 minutes of skew with TIMESTAMP_EXPIRED and says by how much", async () => {
    const late = await expectRejected(
      verifySdkHmacSha256(req, fakeWorld(dateMs + 24 * 3_600_000 + 2 * 60_000).deps),
      "TIMESTAMP_EXPIRED",
    );
    expect(late.message).toContain(
      `X-Sdk-Date ${req.headers["x-sdk-date"]} is 1442 minutes away from server time`,
    );
    expect(late.message).toContain("allowed skew is 15 minutes");
    const early = await expectRejected(
      verifySdkHmacSha256(req, fakeWorld(dateMs - 15 * 60_000 - 1000).deps),
      "TIMESTAMP_EXPIRED",
    );
    expect(early.message).toContain("15 minutes 1 second away");
    expect(early.message).toContain("in the future");
  });

  it("rejects a missing or malformed X-Sdk-Date", async () => {
    const { deps } = fakeWorld(dateMs);
    // A signed request without its date is an incomplete signature: 401, like every credential error.
    await expectRejected(
      verifySdkHmacSha256(withHeader(req, "x-sdk-date", undefined), deps),
      "SIGNATURE_MALFORMED",
    );
    for (const bad of [
      "2024-01-01T00:00:00Z",
      "20241301T000000Z",
      "20240230T000000Z",
      "20240101T240000Z",
      "20240101T000000",
      "x",
    ]) {
      await expectRejected(
        verifySdkHmacSha256(withHeader(req, "x-sdk-date", bad), deps),
        "TIMESTAMP_MALFORMED",
      );
    }
  });

  it("rejects an unknown access key with ACCESS_KEY_NOT_FOUND", async () => {
    const error = await expectRejected(
      verifySdkHmacSha256(req, fakeWorld(dateMs, []).deps),
      "ACCESS_KEY_NOT_FOUND",
    );
    expect(error.message).toContain(ACCESS_KEY.accessKeyId);
  });
});

describe("verifySdkHmacSha256 rejects garbage", () => {
  const base: IncomingSignedRequest = {
    method: "GET",
    path: "/v1/p/jobs",
    rawQuery: "",
    headers: { host: "h", "x-sdk-date": "20240101T000000Z" },
    body: Buffer.alloc(0),
  };
  const deps = fakeWorld(Date.UTC(2024, 0, 1)).deps;
  const sig = "a".repeat(64);

  it.each([
    undefined,
    "",
    "SDK-HMAC-SHA256",
    "Bearer abc",
    `sdk-hmac-sha256 Access=A, SignedHeaders=host, Signature=${sig}`,
    "SDK-HMAC-SHA256 Access=A, SignedHeaders=host",
    `SDK-HMAC-SHA256 Acess=A, SignedHeaders=host, Signature=${sig}`,
    `SDK-HMAC-SHA256 Access=A, Access=B, SignedHeaders=host, Signature=${sig}`,
    "SDK-HMAC-SHA256 Access=A, SignedHeaders=host, Signature=xyz",
    `SDK-HMAC-SHA256 Access=A, SignedHeaders=Host, Signature=${sig}`,
    `SDK-HMAC-SHA256 Access=A, SignedHeaders=host;;x-sdk-date, Signature=${sig}`,
    `SDK-HMAC-SHA256 Access=A, SignedHeaders=host;host, Signature=${sig}`,
    `SDK-HMAC-SHA256 Access=A, SignedHeaders=authorization, Signature=${sig}`,
    `SDK-HMAC-SHA256 Access=A B, SignedHeaders=host, Signature=${sig}`,
    `SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature=${sig}`,
  ])("answers SIGNATURE_MALFORMED to Authorization %j", async (authorization) => {
    const error = await expectRejected(
      verifySdkHmacSha256(withHeader(base, "authorization", authorization), deps),
      "SIGNATURE_MALFORMED",
    );
    expect(error.message).toContain("SDK-HMAC-SHA256 Access=<AK>");
  });

  it("answers SIGNATURE_MALFORMED to any text after the algorithm name", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "binary", maxLength: 120 }), async (rest) => {
        await expectRejected(
          verifySdkHmacSha256(withHeader(base, "authorization", `SDK-HMAC-SHA256 ${rest}`), deps),
          "SIGNATURE_MALFORMED",
        );
      }),
    );
  });

  it("only ever rejects with a DoppelError, whatever the request", async () => {
    const header = fc.oneof(
      fc.string({ unit: "binary", maxLength: 60 }),
      fc.constant(
        `SDK-HMAC-SHA256 Access=${ACCESS_KEY.accessKeyId}, SignedHeaders=host;x-sdk-date, Signature=${sig}`,
      ),
    );
    const request = fc.record({
      method: fc.constantFrom("GET", "POST", "PUT", "DELETE", ""),
      path: fc.oneof(fc.constant("/"), fc.string({ unit: "binary", maxLength: 30 })),
      rawQuery: fc.string({ unit: "binary", maxLength: 40 }),
      headers: fc.record({
        authorization: header,
        host: fc.option(fc.string({ maxLength: 10 }), { nil: undefined }),
        "x-sdk-date": fc.oneof(fc.constant("20240101T000000Z"), fc.string({ unit: "binary", maxLength: 20 })),
        "x-sdk-content-sha256": fc.option(fc.constant("UNSIGNED-PAYLOAD"), { nil: undefined }),
      }),
      body: fc.uint8Array({ maxLength: 16 }).map((bytes) => Buffer.from(bytes)),
    });
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        await rejection(verifySdkHmacSha256(req, deps));
      }),
    );
  });
});
