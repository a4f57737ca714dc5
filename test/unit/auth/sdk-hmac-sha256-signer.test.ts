/**
 * Doppel's own SDK-HMAC-SHA256 signer (used by `doppel jobs`): its signatures must be exactly the Huawei
 * SDK's for the same request, and everything it signs must verify after going over the wire.
 */

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatSdkDate } from "../../../src/auth/sdk-canonical.js";
import { verifySdkHmacSha256 } from "../../../src/auth/sdk-hmac-sha256.js";
import { signSdkHmacSha256 } from "../../../src/auth/sdk-hmac-sha256-signer.js";
import {
  ACCESS_KEY,
  AWKWARD_VALUES,
  type Captured,
  captureOne,
  expectRejected,
  fakeWorld,
  PROJECT_ID,
  requireCjs,
} from "./support.js";

const { ClientBuilder } = requireCjs(
  "@huaweicloud/huaweicloud-sdk-core/ClientBuilder",
) as typeof import("@huaweicloud/huaweicloud-sdk-core/ClientBuilder.js");
const { BasicCredentials } = requireCjs(
  "@huaweicloud/huaweicloud-sdk-core",
) as typeof import("@huaweicloud/huaweicloud-sdk-core");
const { AKSKSigner } = requireCjs(
  "@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner",
) as typeof import("@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner.js");
type HcClient = import("@huaweicloud/huaweicloud-sdk-core/HcClient.js").HcClient;
type HttpRequestOptions = import("@huaweicloud/huaweicloud-sdk-core/HcClient.js").HttpRequestOptions;
type IHttpRequest = import("@huaweicloud/huaweicloud-sdk-core/http/IHttpRequest.js").IHttpRequest;

const JOBS = "/v1/{project_id}/digital-human-training-manage/user/jobs";
const JOB_ID = "0190a1b2c3d47e8f9a0b1c2d3e4f5a6b";
const CREDENTIALS = { accessKeyId: ACCESS_KEY.accessKeyId, secretAccessKey: ACCESS_KEY.secret };

function credential() {
  return new BasicCredentials()
    .withAk(ACCESS_KEY.accessKeyId)
    .withSk(ACCESS_KEY.secret)
    .withProjectId(PROJECT_ID);
}

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

/** Sends one call through the real SDK client and returns the request as it arrived. */
function sendWithSdk(call: SdkCall): Promise<Captured> {
  return captureOne(async (hostAndPort) => {
    const client: HcClient = new ClientBuilder((hc: HcClient) => hc)
      .withEndpoint(`http://${hostAndPort}`)
      .withCredential(credential())
      .build();
    await client.sendRequest({ queryParams: {}, pathParams: {}, headers: {}, ...call } as HttpRequestOptions);
  });
}

/** X-Sdk-Date back to epoch milliseconds. */
function sdkDateMs(raw: string): number {
  return Date.parse(
    `${raw.slice(0, 4)}-${raw.slice(4, 6)}-${raw.slice(6, 8)}T${raw.slice(9, 11)}:${raw.slice(11, 13)}:${raw.slice(13, 15)}Z`,
  );
}

/**
 * Signs with Doppel's signer what the SDK put on the wire: the same URL, the same headers the SDK chose
 * to sign (minus host and the date, which the signer adds), the same body and the same time.
 */
function resign(sdk: Captured): string {
  const listed = /SignedHeaders=([^,]+)/.exec(sdk.headers.authorization ?? "")?.[1]?.split(";") ?? [];
  const unsigned = sdk.headers["x-sdk-content-sha256"] === "UNSIGNED-PAYLOAD";
  const headers = Object.fromEntries(
    listed
      .filter((n) => !["host", "x-sdk-date", ...(unsigned ? ["x-sdk-content-sha256"] : [])].includes(n))
      .map((n) => [n, sdk.headers[n] ?? ""]),
  );
  const query = sdk.rawQuery === "" ? "" : `?${sdk.rawQuery}`;
  return signSdkHmacSha256(
    {
      method: sdk.method,
      url: `http://${sdk.headers.host}${sdk.path}${query}`,
      headers,
      body: sdk.body,
      unsignedPayload: unsigned,
      date: sdkDateMs(sdk.headers["x-sdk-date"] ?? ""),
    },
    CREDENTIALS,
  ).headers.authorization as string;
}

describe("signSdkHmacSha256 signs as Huawei's SDK does", () => {
  it("gives AKSKSigner.sign's exact Authorization for the same request", () => {
    const date = "20240131T080000Z";
    const data = { command: "SUBMITVERIFYING", command_message: "雪花 ❄ ok" };
    const request = {
      method: "POST",
      endpoint: `http://127.0.0.1:8080/v1/${PROJECT_ID}/digital-human-training-manage/user/jobs/${JOB_ID}/command`,
      // Names with `_` sort differently by code unit and by localeCompare; the SDK uses both orders.
      headers: {
        "content-type": "application/json",
        "X-Project-Id": PROJECT_ID,
        "x-a_b": "1",
        "x-a-b": "2",
        "X-Sdk-Date": date,
      },
      queryParams: { limit: 10, state: "JOB_SUCCESS,TRAINING", tag: ["b", "a b"] },
      data,
    };
    const sdk = AKSKSigner.sign(request as unknown as IHttpRequest, credential()) as Record<string, string>;

    const url = new URL(request.endpoint);
    url.search = "limit=10&state=JOB_SUCCESS%2CTRAINING&tag=b&tag=a+b";
    const ours = signSdkHmacSha256(
      {
        method: "POST",
        url,
        headers: {
          "Content-Type": "application/json",
          "X-Project-Id": PROJECT_ID,
          "x-a_b": "1",
          "x-a-b": "2",
        },
        body: JSON.stringify(data),
        date: sdkDateMs(date),
      },
      CREDENTIALS,
    );
    expect(ours.headers.authorization).toBe(sdk.Authorization);
    expect(ours.signedHeaders).toBe("content-type;host;x-a-b;x-a_b;x-project-id;x-sdk-date");
    expect(ours.headers["x-sdk-date"]).toBe(date);
  });

  it("reproduces the signature of every request the SDK client sends", async () => {
    const value = fc.oneof(fc.constantFrom(...AWKWARD_VALUES), fc.string({ unit: "grapheme", maxLength: 8 }));
    const call = fc.record({
      kind: fc.constantFrom("list", "command", "update", "delete", "upload"),
      queryParams: fc.dictionary(
        fc.oneof(fc.constantFrom("name", "state", "a*b", "ключ"), fc.string({ minLength: 1, maxLength: 5 })),
        fc.oneof(value, fc.array(value, { minLength: 1, maxLength: 3 }), fc.integer()),
        { maxKeys: 3, noNullPrototype: true },
      ),
      appUser: fc.option(fc.stringMatching(/^[a-z0-9-]{1,12}$/), { nil: undefined }),
      message: value,
    });
    await fc.assert(
      fc.asyncProperty(call, async ({ kind, queryParams, appUser, message }) => {
        const headers: Record<string, string> = appUser === undefined ? {} : { "X-App-UserId": appUser };
        const options: Record<string, SdkCall> = {
          list: { method: "GET", url: JOBS, contentType: "application/json", queryParams, headers },
          command: {
            method: "POST",
            url: `${JOBS}/{job_id}/command`,
            contentType: "application/json",
            pathParams: { job_id: JOB_ID },
            data: { command: "SUBMITVERIFYING", command_message: message },
            headers,
          },
          update: {
            method: "PUT",
            url: `${JOBS}/{job_id}`,
            contentType: "application/json",
            pathParams: { job_id: JOB_ID },
            data: { name: message || "x" },
          },
          delete: { method: "DELETE", url: `${JOBS}/{job_id}`, pathParams: { job_id: JOB_ID } },
          upload: {
            method: "PUT",
            url: `${JOBS}/{job_id}/file`,
            contentType: "application/octet-stream",
            pathParams: { job_id: JOB_ID },
            data: Buffer.from(message),
          },
        };
        const sdk = await sendWithSdk(options[kind] as SdkCall);
        expect(resign(sdk)).toBe(sdk.headers.authorization);
      }),
      { numRuns: 40 },
    );
  });
});

describe("signSdkHmacSha256 requests verify", () => {
  const ascii = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,10}[\x21-\x7e])?$/);
  const request = fc.record({
    method: fc.constantFrom("GET", "POST", "PUT", "DELETE"),
    jobId: fc.option(fc.stringMatching(/^[0-9a-f]{32}$/), { nil: undefined }),
    query: fc.array(
      fc.tuple(
        fc.oneof(fc.constantFrom("limit", "state", "name", "a b"), fc.string({ minLength: 1, maxLength: 5 })),
        fc.oneof(fc.constantFrom(...AWKWARD_VALUES), fc.string({ unit: "grapheme", maxLength: 8 })),
      ),
      { maxLength: 4 },
    ),
    extra: fc.dictionary(fc.constantFrom("x-app-userid", "x-client-token", "x-a_b", "x-a-b"), ascii, {
      maxKeys: 3,
      noNullPrototype: true,
    }),
    body: fc.string({ unit: "grapheme", maxLength: 40 }),
    unsignedPayload: fc.boolean(),
  });

  it("verifies with verifySdkHmacSha256 as it arrives over HTTP", async () => {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const captured = await captureOne(async (hostAndPort) => {
          const url = new URL(
            `http://${hostAndPort}/v1/${PROJECT_ID}/digital-human-training-manage/user/jobs${r.jobId ? `/${r.jobId}` : ""}`,
          );
          url.search = new URLSearchParams(r.query).toString();
          const body = r.method === "POST" || r.method === "PUT" ? r.body : undefined;
          const signed = signSdkHmacSha256(
            {
              method: r.method,
              url,
              headers: { "Content-Type": "application/json", "X-Project-Id": PROJECT_ID, ...r.extra },
              body,
              unsignedPayload: r.unsignedPayload,
            },
            CREDENTIALS,
          );
          await fetch(url, { method: r.method, headers: signed.headers, body });
        });
        await expect(verifySdkHmacSha256(captured, fakeWorld(captured.receivedAtMs).deps)).resolves.toEqual({
          projectId: PROJECT_ID,
          accessKeyId: ACCESS_KEY.accessKeyId,
          scheme: "SDK-HMAC-SHA256",
        });
      }),
      { numRuns: 60 },
    );
  });

  it("does not verify with another secret or after the body changed", async () => {
    const captured = await captureOne(async (hostAndPort) => {
      const url = `http://${hostAndPort}/v1/${PROJECT_ID}/digital-human-training-manage/user/jobs`;
      const body = JSON.stringify({ name: "a" });
      const signed = signSdkHmacSha256(
        { method: "POST", url, headers: { "content-type": "application/json" }, body },
        { accessKeyId: ACCESS_KEY.accessKeyId, secretAccessKey: `${ACCESS_KEY.secret}x` },
      );
      await fetch(url, { method: "POST", headers: signed.headers, body });
    });
    await expectRejected(
      verifySdkHmacSha256(captured, fakeWorld(captured.receivedAtMs).deps),
      "SIGNATURE_MISMATCH",
    );
  });

  it("refuses headers it sets itself, bad names and missing credentials", () => {
    const url = "http://127.0.0.1/v1/p/x";
    expect(() =>
      signSdkHmacSha256({ method: "GET", url, headers: { Authorization: "x" } }, CREDENTIALS),
    ).toThrow(/sets Authorization itself/);
    expect(() => signSdkHmacSha256({ method: "GET", url, headers: { "a b": "x" } }, CREDENTIALS)).toThrow(
      /not a header name/,
    );
    expect(() =>
      signSdkHmacSha256({ method: "GET", url, headers: { "X-A": "1", "x-a": "2" } }, CREDENTIALS),
    ).toThrow(/given twice/);
    expect(() =>
      signSdkHmacSha256({ method: "GET", url }, { accessKeyId: "a", secretAccessKey: "" }),
    ).toThrow(/secret access key/);
  });

  it("formats X-Sdk-Date as UTC seconds", () => {
    expect(formatSdkDate(Date.UTC(2024, 0, 31, 8, 5, 9, 999))).toBe("20240131T080509Z");
    expect(formatSdkDate(new Date("2030-12-01T23:59:59Z"))).toBe("20301201T235959Z");
  });
});
