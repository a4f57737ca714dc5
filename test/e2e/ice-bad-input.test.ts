/**
 * Property-based bad input over real HTTP, on both databases:
 *
 * - ICE requests *correctly* signed (with the Alibaba SDK's own `OpenApiUtil.getAuthorization` /
 *   `getRPCSignature`) but carrying arbitrary parameters get 200 or a 4xx input error in Alibaba's
 *   envelope, never a 5xx, never a signature complaint, and never another project's job.
 * - Tampering with a signed ICE request (signature, a signed header, a query value, the time) always
 *   gets the 4xx Alibaba code for that kind of tampering.
 * - MetaStudio requests signed by the Huawei SDK with arbitrary query values get 200 or a 4xx whose
 *   body is exactly `{error_code, error_msg}`.
 * - Requests that are not even well-formed (broken percent-encoding, garbage credentials) still get a
 *   4xx in the right dialect.
 */

import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ICE_STATUSES } from "../../src/domain/ice-status.js";
import { ENGINES } from "../support/databases.js";
import {
  acsDate,
  credentialsOf,
  encodeRfc3986,
  type HcClient,
  type HuaweiSdkError,
  huaweiClient,
  huaweiListJobs,
  queryString,
  type SignedRaw,
  sendRaw,
  signAcs3,
  signRpcV1,
} from "../support/sdk-clients.js";
import { jobsUrl, startTestServer, type TestServer } from "../support/server.js";

const RUNS = 150;
const ICE_ERROR_KEYS = ["Code", "HostId", "Message", "Recommend", "RequestId"];
/** Codes a correctly signed request may get: input errors only. */
const ICE_INPUT_CODES = ["InvalidParameter", "MissingParameter", "InvalidVersion", "InvalidApi.NotFound"];
const SIGNATURE_CHARS = {
  hex: "0123456789abcdef",
  base64: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
};

/** Values of every kind a client could put in a parameter. */
const anyValue = fc.oneof(
  fc.constantFrom(
    "",
    "0",
    "1",
    "-1",
    "100",
    "101",
    "1.5",
    "-0",
    "1e2",
    "0x10",
    " 5",
    "NaN",
    "Infinity",
    "null",
    "true",
    "99999999999999999999999999",
    "Success",
    "Fail",
    "Normal",
    "ListAvatarTrainingJobs",
    "2020-11-09",
    "%",
    "%E0%A4%A",
    "a&b=c",
    "雪花 ❄",
  ),
  fc.string({ unit: "grapheme", maxLength: 30 }),
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.integer().map(String),
  fc.bigInt().map(String),
  fc.double().map(String),
  fc.constantFrom(...ICE_STATUSES),
  // Long values, kept (with the filter below) well under Node's 16 KiB limit for the request head.
  fc.string({ maxLength: 1000 }).map((s) => s.repeat(3)),
);

/** Node answers a request head over 16 KiB itself (431, Fastify's own body): not what is tested here. */
const MAX_QUERY_BYTES = 8000;

/** RPC v1 common parameters: a business key of that name would replace the signer's own. */
const RPC_COMMON = new Set([
  "Action",
  "Version",
  "Format",
  "Timestamp",
  "SignatureNonce",
  "SignatureMethod",
  "SignatureVersion",
  "SignatureType",
  "AccessKeyId",
  "Signature",
  "SecurityToken",
  "BearerToken",
]);

const iceKey = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom("PageNo", "PageSize", "Status", "Action", "Version") },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z][A-Za-z0-9]{0,10}$/).filter((k) => !RPC_COMMON.has(k)) },
);

/** A query of distinct keys (a signed request is a map; repeated names are a separate case). */
const iceQuery = fc
  .uniqueArray(fc.tuple(iceKey, anyValue), { selector: ([k]) => k, maxLength: 5 })
  .map((pairs) => Object.fromEntries(pairs) as Record<string, string>)
  .filter((query) => queryString(query).length < MAX_QUERY_BYTES);

type Project = TestServer["projects"][number];

function expectIceError(status: number, body: Record<string, unknown>, context: string): void {
  expect(status, context).toBeGreaterThanOrEqual(400);
  expect(status, context).toBeLessThan(500);
  expect(Object.keys(body).sort(), context).toEqual(ICE_ERROR_KEYS);
  for (const key of ICE_ERROR_KEYS) expect(typeof body[key], `${context} ${key}`).toBe("string");
  expect(String(body.Message).trim().length, context).toBeGreaterThan(10);
}

/** Replaces the character at `index` by the next one of `alphabet`. */
function changeChar(text: string, index: number, alphabet: string): string {
  const i = index % text.length;
  const next = alphabet[(alphabet.indexOf(text[i] ?? "") + 1) % alphabet.length] ?? "0";
  return `${text.slice(0, i)}${next}${text.slice(i + 1)}`;
}

describe.each(ENGINES)("bad input over HTTP on %s", (engine) => {
  let s: TestServer;
  let a: Project;
  let b: Project;
  let ownIds: Set<string>;
  let otherIds: Set<string>;

  async function idsOf(project: Project): Promise<Set<string>> {
    const ids = new Set<string>();
    for (let offset = 0; offset < project.jobs; offset += 100) {
      const res = await fetch(jobsUrl(s, project.id, `offset=${offset}&limit=100`), {
        headers: { "X-Auth-Token": project.token },
      });
      for (const job of ((await res.json()) as { jobs: Array<{ job_id: string }> }).jobs) ids.add(job.job_id);
    }
    return ids;
  }

  beforeAll(async () => {
    s = await startTestServer(engine);
    [a, b] = s.projects as [Project, Project];
    ownIds = await idsOf(a);
    otherIds = await idsOf(b);
    expect(ownIds.size).toBe(a.jobs);
  });
  afterAll(async () => s?.close());

  it("ICE: correctly signed requests with arbitrary parameters get 200 or an input error, never 5xx or another project's jobs", async () => {
    await fc.assert(
      fc.asyncProperty(
        iceQuery,
        fc.constantFrom("v3", "v2"),
        fc.constantFrom("POST", "GET"),
        async (query, signing, method) => {
          const request = (signing === "v3" ? signAcs3 : signRpcV1)(s, credentialsOf(a.key), query, {
            method: method as "POST" | "GET",
          });
          const { status, body } = await sendRaw(request);
          const context = `${signing} ${method} ${JSON.stringify(query).slice(0, 300)} → ${status} ${JSON.stringify(body).slice(0, 300)}`;
          if (status === 200) {
            expect(Object.keys(body).sort(), context).toEqual(["Data", "RequestId", "Success"]);
            const data = body.Data as {
              AvatarTrainingJobList: Array<{ JobId: string; Status: string }>;
              TotalCount: number;
            };
            expect(data.TotalCount, context).toBeLessThanOrEqual(a.jobs);
            for (const item of data.AvatarTrainingJobList) {
              expect(ownIds.has(item.JobId), `${context}: ${item.JobId}`).toBe(true);
              expect(otherIds.has(item.JobId), context).toBe(false);
              if (query.Status !== undefined) expect(item.Status, context).toBe(query.Status);
            }
          } else {
            expectIceError(status, body, context);
            // Signed correctly: whatever is wrong is the input, never the signature or the time.
            expect(ICE_INPUT_CODES, context).toContain(body.Code);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("ICE: a tampered signed request always gets the 4xx code for that tampering", async () => {
    const tamperings = {
      "signature character": [400, "SignatureDoesNotMatch"],
      "signed header or common parameter": [400, "SignatureDoesNotMatch"],
      "query value": [400, "SignatureDoesNotMatch"],
      "added parameter": [400, "SignatureDoesNotMatch"],
      // The time is checked before the signature, as Alibaba does.
      "time shifted > 15 min": [400, "InvalidTimeStamp.Expired"],
      "signed with a clock > 15 min off": [400, "InvalidTimeStamp.Expired"],
      "unknown access key": [404, "InvalidAccessKeyId.NotFound"],
    } as const;
    type Tampering = keyof typeof tamperings;

    /** The raw request with its query rebuilt from `params`, encoded as Alibaba's canonical form does. */
    function withQuery(raw: SignedRaw, params: URLSearchParams): string {
      // (URLSearchParams.toString would write a space as `+`.)
      const query = [...params].map(([k, v]) => `${encodeRfc3986(k)}=${encodeRfc3986(v)}`).join("&");
      return `${raw.url.slice(0, raw.url.indexOf("/", "http://".length))}/?${query}`;
    }

    function tamper(
      raw: SignedRaw,
      signing: "v3" | "v2",
      kind: Tampering,
      n: number,
      minutes: number,
    ): SignedRaw {
      const params = new URLSearchParams(raw.url.slice(raw.url.indexOf("?") + 1));
      const headers = { ...raw.headers };
      const flip = (value: string) => value.replace(/.$/, (c) => (c === "x" ? "y" : "x"));
      switch (kind) {
        case "signature character":
          if (signing === "v3") {
            const auth = headers.authorization ?? "";
            const at = auth.indexOf("Signature=") + "Signature=".length;
            headers.authorization = `${auth.slice(0, at)}${changeChar(auth.slice(at), n, SIGNATURE_CHARS.hex)}`;
          } else {
            // One of the 27 characters before the `=` padding.
            params.set(
              "Signature",
              changeChar(params.get("Signature") ?? "", n % 27, SIGNATURE_CHARS.base64),
            );
          }
          break;
        case "signed header or common parameter": {
          if (signing === "v3") {
            const names = [
              "x-acs-action",
              "x-acs-version",
              "x-acs-signature-nonce",
              "x-acs-content-sha256",
              "host",
            ];
            const name = names[n % names.length] as string;
            const value = headers[name] ?? "";
            headers[name] =
              name === "x-acs-content-sha256"
                ? changeChar(value, n, SIGNATURE_CHARS.hex)
                : name === "host"
                  ? value.replace("127.0.0.1", "localhost")
                  : flip(value);
          } else {
            const names = ["Action", "Version", "SignatureNonce", "Format"];
            const name = names[n % names.length] as string;
            params.set(name, flip(params.get(name) ?? ""));
          }
          break;
        }
        case "query value":
          params.set("PageSize", `${params.get("PageSize")}0`);
          break;
        case "added parameter":
          params.append("Status", "Fail");
          break;
        case "time shifted > 15 min":
          if (signing === "v3")
            headers["x-acs-date"] = acsDate(Date.parse(headers["x-acs-date"] ?? "") + minutes * 60_000);
          else params.set("Timestamp", acsDate(Date.parse(params.get("Timestamp") ?? "") + minutes * 60_000));
          break;
        case "signed with a clock > 15 min off":
          return (signing === "v3" ? signAcs3 : signRpcV1)(
            s,
            credentialsOf(a.key),
            { PageSize: "7" },
            {
              dateMs: Date.now() + minutes * 60_000,
            },
          );
        case "unknown access key":
          if (signing === "v3")
            headers.authorization = (headers.authorization ?? "").replace(
              /Credential=[^,]*/,
              "Credential=LTAINOSUCHKEY0000000",
            );
          else params.set("AccessKeyId", "LTAINOSUCHKEY0000000");
          break;
      }
      return { ...raw, url: withQuery(raw, params), headers };
    }

    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("v3", "v2"),
        fc.constantFrom(...(Object.keys(tamperings) as Tampering[])),
        fc.nat({ max: 1000 }),
        fc.oneof(fc.integer({ min: 16, max: 24 * 60 }), fc.integer({ min: -24 * 60, max: -16 })),
        async (signing, kind, n, minutes) => {
          const original = (signing === "v3" ? signAcs3 : signRpcV1)(s, credentialsOf(a.key), {
            PageNo: "1",
            PageSize: "7",
          });
          const { status, body } = await sendRaw(tamper(original, signing, kind, n, minutes));
          const context = `${signing} ${kind} n=${n} minutes=${minutes} → ${status} ${JSON.stringify(body).slice(0, 400)}`;
          expectIceError(status, body, context);
          expect([status, body.Code], context).toEqual(tamperings[kind]);
          // A tampered copy never uses up the original's nonce: the original still works, once.
          if (kind !== "signed with a clock > 15 min off") {
            expect((await sendRaw(original)).status, `${context} (original afterwards)`).toBe(200);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("ICE and MetaStudio: malformed requests still get a 4xx in the dialect's envelope", async () => {
    const brokenQuery = fc.oneof(
      fc.string({ unit: "binary-ascii", maxLength: 60 }),
      fc.constantFrom("PageSize=%", "PageSize=%E0%A4%A", "PageSize=%FF", "Status=%C0%AF", "%=1", "a=%zz"),
      fc.string({ unit: "binary", maxLength: 30 }).map((s) => encodeURI(s)),
    );
    const credentials = fc.constantFrom<Record<string, string>>(
      {},
      { authorization: "ACS3-HMAC-SHA256 Credential=X,SignedHeaders=host,Signature=00" },
      { authorization: "ACS3-HMAC-SHA256 garbage" },
      { authorization: "SDK-HMAC-SHA256 Access=A, SignedHeaders=host, Signature=zz" },
      { "x-auth-token": "dpl_nope" },
      { "x-acs-date": "yesterday", "x-acs-signature-nonce": "n" },
    );
    await fc.assert(
      fc.asyncProperty(
        brokenQuery,
        credentials,
        fc.constantFrom("ice", "metastudio"),
        async (query, headers, dialect) => {
          const safe = query.replace(/[#\s]/g, (c) => encodeURIComponent(c));
          const url = dialect === "ice" ? `${s.baseUrl}/?${safe}` : jobsUrl(s, a.id, safe);
          const res = await fetch(url, { method: dialect === "ice" ? "POST" : "GET", headers });
          const body = (await res.json()) as Record<string, unknown>;
          const context = `${dialect} ${safe} ${JSON.stringify(headers)} → ${res.status} ${JSON.stringify(body)}`;
          expect(res.status, context).toBeGreaterThanOrEqual(400);
          expect(res.status, context).toBeLessThan(500);
          if (dialect === "ice") expectIceError(res.status, body, context);
          else {
            expect(Object.keys(body).sort(), context).toEqual(["error_code", "error_msg"]);
            expect(body.error_code, context).toMatch(/^MSS\.\d{8}$/);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  describe("MetaStudio through the Huawei SDK", () => {
    let client: HcClient;
    beforeAll(() => {
      client = huaweiClient(s, credentialsOf(a.key));
    });

    it("arbitrary query values get 200 with own jobs only, or a 4xx whose body is exactly {error_code, error_msg}", async () => {
      const params = [
        "offset",
        "limit",
        "sort_key",
        "sort_dir",
        "create_since",
        "create_until",
        "update_since",
        "update_until",
        "state",
        "query_project_id",
        "batch_name",
        "tag",
        "job_id",
        "name",
        "model_resolution",
        "unknown_param",
      ] as const;
      const value = fc.oneof(
        anyValue,
        fc.constantFrom(
          "JOB_SUCCESS,TRAINING",
          "2025-01-01T00:00:00Z",
          "asc",
          "desc",
          "update_time",
          a.id,
          b.id,
        ),
      );
      // Paging, sorting and state more often than the narrowing filters, so that many lists are not empty.
      const key = fc.oneof(
        {
          weight: 3,
          arbitrary: fc.constantFrom("offset", "limit", "sort_key", "sort_dir", "state", "unknown_param"),
        },
        { weight: 2, arbitrary: fc.constantFrom(...params) },
      );
      const query = fc
        .uniqueArray(fc.tuple(key, value), { selector: ([k]) => k, maxLength: 5 })
        .map((pairs) => Object.fromEntries(pairs) as Record<string, string>)
        .filter((q) => queryString(q).length < MAX_QUERY_BYTES);
      const appUser = fc.oneof(
        { weight: 4, arbitrary: fc.constant(undefined) },
        // Seeded end users.
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 49 }).map((i) => `user-${i}`) },
        // Printable ASCII without surrounding spaces (HTTP would trim them after the SDK signed them).
        { weight: 1, arbitrary: fc.stringMatching(/^[\x21-\x7e](?:[\x20-\x7e]{0,40}[\x21-\x7e])?$/) },
      );

      await fc.assert(
        fc.asyncProperty(query, appUser, async (q, user) => {
          let raw: { status: number; text: string } | undefined;
          const observe = (status: number, text: string) => {
            raw = { status, text };
          };
          const headers: Record<string, string> = user === undefined ? {} : { "X-App-UserId": user };
          const context = () =>
            `${JSON.stringify(q).slice(0, 300)} ${JSON.stringify(headers)} → ${raw?.status} ${raw?.text.slice(0, 300)}`;
          try {
            const res = await huaweiListJobs(client, a.id, q, headers, observe);
            expect(res.status, context()).toBe(200);
            expect(
              res.body.jobs.every((j) => j.project_id === a.id && ownIds.has(String(j.job_id))),
              context(),
            ).toBe(true);
            if (user !== undefined)
              expect(
                res.body.jobs.every((j) => j.app_user_id === user),
                context(),
              ).toBe(true);
          } catch (error) {
            const e = error as HuaweiSdkError;
            if (e.httpStatusCode === undefined) throw error;
            // Signed by the SDK: never an authentication failure, never a server error.
            expect([400, 403], context()).toContain(e.httpStatusCode);
            expect(e.errorCode, context()).toMatch(/^MSS\.\d{8}$/);
            expect(e.errorMsg?.length ?? 0, context()).toBeGreaterThan(5);
            expect(raw?.status, context()).toBe(e.httpStatusCode);
            const body = JSON.parse(raw?.text ?? "null") as Record<string, unknown>;
            expect(Object.keys(body).sort(), context()).toEqual(["error_code", "error_msg"]);
            expect(body, context()).toEqual({ error_code: e.errorCode, error_msg: e.errorMsg });
          }
        }),
        { numRuns: RUNS },
      );
    });
  });
});
