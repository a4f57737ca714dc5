/**
 * One envelope rule over real HTTP: Doppel's own paths (/v1, /uploads, /downloads, /admin, /worker,
 * /openapi, /docs)
 * answer every error in MetaStudio's envelope, `/` and everything else in Alibaba's; an unknown path
 * is a 404, a wrong method on an existing path a 405 with `Allow`, whatever the method; bad
 * credentials get each family's documented status.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENGINES } from "../support/databases.js";
import { keepAliveClient } from "../support/raw-http.js";
import { startTestServer, type TestServer } from "../support/server.js";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Body = any;

const ICE_KEYS = ["Code", "HostId", "Message", "Recommend", "RequestId"];
const METASTUDIO_KEYS = ["error_code", "error_msg"];
const ID = "0123456789abcdef0123456789abcdef";
const SIG = `expires=9999999999&signature=${"0".repeat(64)}`;
const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] as const;

/** What the README documents: Doppel's own paths speak MetaStudio's envelope, anything else Alibaba's. */
const expectedDialect = (path: string) =>
  /^\/(v1|uploads|downloads|admin|worker|openapi|docs)(\/|$|\?)/.test(path) ? "metastudio" : "ice";

function expectEnvelope(path: string, body: Body) {
  expect(Object.keys(body).sort()).toEqual(
    expectedDialect(path) === "metastudio" ? METASTUDIO_KEYS : ICE_KEYS,
  );
}

describe.each(ENGINES)("error envelopes on %s", (engine) => {
  let s: TestServer;
  let project: string;
  const client = keepAliveClient();

  beforeAll(async () => {
    s = await startTestServer(engine, [1]);
    project = (s.projects[0] as TestServer["projects"][number]).id;
  });
  afterAll(async () => {
    client.close();
    await s?.close();
  });

  const send = async (method: string, path: string, headers: Record<string, string> = {}) => {
    const res = await client.request(method, `${s.baseUrl}${path}`, undefined, headers);
    // The API reference's page and assets (/docs) are the only answers that are not JSON.
    const json = String(res.headers["content-type"] ?? "").startsWith("application/json");
    return { ...res, body: json && res.text !== "" ? (JSON.parse(res.text) as Body) : undefined };
  };
  const jobs = () => `/v1/${project}/digital-human-training-manage/user/jobs`;

  /** Every route family: an existing path, the methods it takes, and an unknown path beside it. */
  const families = () => [
    {
      path: jobs(),
      allow: ["GET", "HEAD", "POST"],
      unknown: `/v1/${project}/digital-human-training-manage/user/nope`,
    },
    { path: `${jobs()}/${ID}`, allow: ["DELETE", "GET", "HEAD", "PUT"], unknown: `${jobs()}/${ID}/nope` },
    { path: `${jobs()}/${ID}/command`, allow: ["POST"], unknown: `${jobs()}/${ID}/command/x` },
    { path: "/", allow: ["GET", "HEAD", "POST"], unknown: "/nope" },
    { path: `/uploads/${ID}/cover`, allow: ["PUT"], unknown: "/uploads" },
    { path: `/uploads/${ID}/training-video/1`, allow: ["PUT"], unknown: `/uploads/${ID}/training-video/1/x` },
    { path: `/uploads/media/${ID}`, allow: ["PUT"], unknown: "/uploads/media" },
    { path: `/downloads/${ID}/cover`, allow: ["GET", "HEAD"], unknown: `/downloads/${ID}` },
    { path: "/admin/v1/reviews", allow: ["GET", "HEAD"], unknown: "/admin/v1/nope" },
    { path: `/admin/v1/reviews/${ID}/approve`, allow: ["POST"], unknown: "/admin" },
    { path: "/worker/v1/claim", allow: ["POST"], unknown: "/worker/v1/nope" },
    { path: `/worker/v1/tasks/${ID}/1/outputs/a/b.bin`, allow: ["PUT"], unknown: `/worker/v1/tasks/${ID}` },
    { path: `/worker/v1/tasks/${ID}/1/inputs/face.mp4`, allow: ["GET", "HEAD"], unknown: "/worker" },
    { path: "/healthz", allow: ["GET", "HEAD"], unknown: "/healthz/x" },
    { path: "/openapi/ice.json", allow: ["GET", "HEAD"], unknown: "/openapi/nope.json" },
    { path: "/docs", allow: ["GET", "HEAD"], unknown: "/docs/nope.js" },
  ];

  it("answers an unknown path with 404 in the path's envelope", async () => {
    for (const { unknown } of families()) {
      const res = await send("GET", unknown);
      expect([unknown, res.status]).toEqual([unknown, 404]);
      expectEnvelope(unknown, res.body);
      expect(res.body.error_code ?? res.body.Code).toBe(
        expectedDialect(unknown) === "metastudio" ? "MSS.00010003" : "InvalidApi.NotFound",
      );
    }
  });

  it("answers every wrong method with 405 and Allow, in the path's envelope", async () => {
    for (const { path, allow } of families()) {
      for (const method of METHODS.filter((m) => !allow.includes(m))) {
        const res = await send(method, path);
        expect([method, path, res.status]).toEqual([method, path, 405]);
        expect(String(res.headers.allow).split(", ").sort()).toEqual(allow);
        if (method === "HEAD") continue;
        expectEnvelope(path, res.body);
        expect(res.body.error_code ?? res.body.Code).toBe(
          expectedDialect(path) === "metastudio" ? "MSS.00010004" : "UnsupportedHTTPMethod",
        );
      }
    }
  });

  it("answers bad credentials with each family's documented status and envelope", async () => {
    const cases: Array<[string, string, Record<string, string>, number, string]> = [
      [
        "GET",
        jobs(),
        {
          Authorization: "SDK-HMAC-SHA256 Access=x, SignedHeaders=host, Signature=00",
          "X-Sdk-Date": "20260101T000000Z",
        },
        401,
        "MSS.00010008",
      ],
      ["GET", jobs(), { "X-Auth-Token": "nope" }, 401, "MSS.00010008"],
      [
        "GET",
        "/?Action=ListAvatarTrainingJobs&Version=2020-11-09",
        { Authorization: "ACS3-HMAC-SHA256 x" },
        400,
        "IncompleteSignature",
      ],
      ["PUT", `/uploads/${ID}/cover?${SIG}`, {}, 403, "MSS.00010010"],
      ["PUT", `/uploads/${ID}/training-video/1?${SIG}`, {}, 403, "MSS.00010010"],
      ["PUT", `/uploads/media/${ID}?${SIG}`, {}, 403, "MSS.00010010"],
      ["GET", `/downloads/${ID}/cover?${SIG}`, {}, 403, "MSS.00010010"],
      ["GET", "/admin/v1/reviews", { Authorization: "Bearer nope" }, 401, "MSS.00010008"],
      ["POST", "/worker/v1/claim", { Authorization: "Bearer nope" }, 401, "MSS.00010008"],
      ["PUT", `/worker/v1/tasks/${ID}/1/outputs/x.bin?${SIG}`, {}, 403, "MSS.00010010"],
      ["GET", `/worker/v1/tasks/${ID}/1/inputs/face.mp4?${SIG}`, {}, 403, "MSS.00010010"],
    ];
    for (const [method, path, headers, status, code] of cases) {
      const res = await send(method, path, headers);
      expect([path, res.status]).toEqual([path, status]);
      expectEnvelope(path, res.body);
      expect(res.body.error_code ?? res.body.Code).toBe(code);
    }
  });

  it("never answers 5xx, and always in the path's envelope, for any path and method", async () => {
    const segment = fc.oneof(
      fc.constantFrom(
        "v1",
        "uploads",
        "downloads",
        "admin",
        "worker",
        "openapi",
        "docs",
        "media",
        "tasks",
        "jobs",
        ID,
        project,
      ),
      fc.constantFrom("digital-human-training-manage", "user", "command", "reviews", "claim", "outputs", "1"),
      fc.stringMatching(/^[A-Za-z0-9._~-]{0,12}$/),
    );
    const path = fc.array(segment, { minLength: 0, maxLength: 7 }).map((parts) => `/${parts.join("/")}`);
    await fc.assert(
      fc.asyncProperty(path, fc.constantFrom(...METHODS), async (generated, method) => {
        // What goes on the wire: the client resolves `.` and `..` segments as any URL parser does.
        const p = new URL(`${s.baseUrl}${generated}`).pathname;
        const res = await send(method, p);
        expect(res.status).toBeGreaterThanOrEqual(200);
        expect(res.status).toBeLessThan(500);
        if (res.status === 405) {
          const allowed = String(res.headers.allow).split(", ");
          expect(allowed).not.toContain(method);
          expect((await send(allowed[0] as string, p)).status).not.toBe(405);
        }
        if (res.status >= 400 && method !== "HEAD") expectEnvelope(p, res.body);
      }),
      { numRuns: 200 },
    );
  });
});
