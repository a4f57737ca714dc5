/**
 * Bodies are read only after authentication where the scheme allows: a request whose credentials can be
 * refused from its head alone is answered before its body arrives. Every request here sends its head
 * and the first bytes of a body it never finishes: an answer can only come from checks made before the
 * body. (What then happens to the unread body is the unread-bodies plugin's business.)
 *
 * - X-Auth-Token and operator `Bearer` tokens: fully checked before the body.
 * - ACS3-HMAC-SHA256: the signature covers the x-acs-content-sha256 header, so it is verified before
 *   the body, and the body is then checked against that header.
 * - SDK-HMAC-SHA256 and RPC v1: what the head carries (Authorization shape, date and skew, the access
 *   key) is checked before; the rest (payload hash, form parameters) after.
 */

import http from "node:http";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signSdkHmacSha256 } from "../../src/auth/sdk-hmac-sha256-signer.js";
import { createAdminToken } from "../../src/services/admin-tokens.service.js";
import { ENGINES } from "../support/databases.js";
import { credentialsOf, type SignedRaw, sendRaw, signAcs3, signRpcV1 } from "../support/sdk-clients.js";
import { jobsUrl, startTestServer, type TestServer } from "../support/server.js";

type Project = TestServer["projects"][number];

/** How long to wait for an answer that must not depend on the body (which never comes). */
const WAIT_MS = 10_000;

interface EarlyAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

/**
 * Sends a request head announcing a 1 MB body, then only a few bytes of it, and resolves with the
 * answer. Fails when none comes: the server is waiting for the body.
 */
function answerBeforeBody(
  url: string,
  method: string,
  headers: Record<string, string>,
): Promise<EarlyAnswer> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request(
      url,
      { method, headers: { "content-length": "1000000", ...headers }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          answered = true;
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) });
          req.destroy();
        });
      },
    );
    req.setTimeout(WAIT_MS, () => {
      if (!answered) reject(new Error(`${method} ${url}: no answer while the body was still to come`));
      req.destroy();
    });
    req.on("error", (error) => {
      if (!answered) reject(error);
    });
    req.write("PageSize=1&");
  });
}

describe.each(ENGINES)("authentication before the body on %s", (engine) => {
  let s: TestServer;
  let a: Project;

  beforeAll(async () => {
    s = await startTestServer(engine, [2, 1]);
    [a] = s.projects as [Project];
    await createAdminToken(s.t.runtime, "operator");
  });
  afterAll(async () => s?.close());

  /** A MetaStudio create signed by SDK-HMAC-SHA256 over a body that will not be sent in full. */
  function sdkSigned(changes: { accessKeyId?: string; date?: number } = {}): Record<string, string> {
    const signed = signSdkHmacSha256(
      {
        method: "POST",
        url: jobsUrl(s, a.id),
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "never sent in full" }),
        ...(changes.date !== undefined && { date: changes.date }),
      },
      { accessKeyId: changes.accessKeyId ?? a.key.access_key_id, secretAccessKey: a.key.secret_access_key },
    );
    return signed.headers;
  }

  const JSON_TYPE = "application/json";
  const FORM_TYPE = "application/x-www-form-urlencoded";
  const UNKNOWN_AK = "LTAINOSUCHKEY0000000";
  type Case = [url: string, method: string, headers: Record<string, string>, status: number, code: string];

  /** A case: a signed ICE request whose form body is on its way. */
  function formPost(raw: SignedRaw, status: number, code: string): Case {
    return [raw.url, "POST", { ...raw.headers, "content-type": FORM_TYPE }, status, code];
  }

  const cases: Record<string, () => Case> = {
    "MetaStudio, unknown X-Auth-Token": () => [
      jobsUrl(s, a.id),
      "POST",
      { "x-auth-token": "dpl_nope", "content-type": JSON_TYPE },
      401,
      "MSS.00010008",
    ],
    "MetaStudio, no credentials": () => [
      jobsUrl(s, a.id),
      "POST",
      { "content-type": JSON_TYPE },
      401,
      "MSS.00010008",
    ],
    "MetaStudio, token of another project": () => [
      jobsUrl(s, a.id),
      "POST",
      { "x-auth-token": (s.projects[1] as Project).token, "content-type": JSON_TYPE },
      403,
      "MSS.00010009",
    ],
    "MetaStudio, SDK-HMAC-SHA256 with an unknown access key": () => [
      jobsUrl(s, a.id),
      "POST",
      sdkSigned({ accessKeyId: "NOSUCHKEY00000000000" }),
      401,
      "MSS.00010008",
    ],
    "MetaStudio, SDK-HMAC-SHA256 dated an hour ago": () => [
      jobsUrl(s, a.id),
      "POST",
      sdkSigned({ date: Date.now() - 3600_000 }),
      401,
      "MSS.00010008",
    ],
    "MetaStudio, SDK-HMAC-SHA256 with an unsigned X-Client-Token": () => [
      jobsUrl(s, a.id),
      "POST",
      { ...sdkSigned(), "x-client-token": "added" },
      401,
      "MSS.00010008",
    ],
    "ICE, ACS3 with a wrong signature": () => {
      const raw = signAcs3(s, credentialsOf(a.key), {}, { body: "PageSize=1&PageNo=1" });
      const authorization = (raw.headers.authorization ?? "").replace(/.$/, (c) => (c === "0" ? "1" : "0"));
      return formPost({ ...raw, headers: { ...raw.headers, authorization } }, 400, "SignatureDoesNotMatch");
    },
    "ICE, ACS3 with an unknown access key": () =>
      formPost(
        signAcs3(s, credentialsOf(a.key, { accessKeyId: UNKNOWN_AK }), {}),
        404,
        "InvalidAccessKeyId.NotFound",
      ),
    "ICE, HMAC-SHA1 with an unknown AccessKeyId in the query": () =>
      formPost(
        signRpcV1(s, credentialsOf(a.key, { accessKeyId: UNKNOWN_AK }), {}),
        404,
        "InvalidAccessKeyId.NotFound",
      ),
    "ICE, HMAC-SHA1 with an expired Timestamp in the query": () =>
      formPost(
        signRpcV1(s, credentialsOf(a.key), {}, { dateMs: Date.now() - 3600_000 }),
        400,
        "InvalidTimeStamp.Expired",
      ),
    "ICE, no credentials and a body that cannot carry them": () => [
      `${s.baseUrl}/`,
      "POST",
      { "content-type": JSON_TYPE },
      400,
      "MissingAccessKeyId",
    ],
    "admin API, unknown operator token": () => [
      `${s.baseUrl}/admin/v1/reviews/0123456789abcdef0123456789abcdef/approve`,
      "POST",
      { authorization: "Bearer dpa_nope", "content-type": JSON_TYPE },
      401,
      "MSS.00010008",
    ],
    "worker protocol, a project's token": () => [
      `${s.baseUrl}/worker/v1/claim`,
      "POST",
      { authorization: `Bearer ${a.token}`, "content-type": JSON_TYPE },
      403,
      "MSS.00010010",
    ],
  };

  for (const [name, build] of Object.entries(cases)) {
    it(`answers before the body: ${name}`, async () => {
      const [url, method, headers, status, code] = build();
      const answer = await answerBeforeBody(url, method, headers);
      const context = `${name} → ${answer.status} ${JSON.stringify(answer.body)}`;
      expect(answer.status, context).toBe(status);
      expect(answer.body.error_code ?? answer.body.Code, context).toBe(code);
    });
  }

  it("answers garbage credentials on MetaStudio, admin and worker routes before the body", async () => {
    const printable = fc.string({
      unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
      maxLength: 80,
    });
    const credentials = fc.oneof(
      fc.constant<Record<string, string>>({}),
      printable.map((t) => ({ "x-auth-token": t })),
      printable.map((t) => ({ authorization: `Bearer ${t}` })),
      printable.map((t) => ({ authorization: `SDK-HMAC-SHA256 ${t}` })),
      printable.map((t) => ({ authorization: t })),
    );
    await fc.assert(
      fc.asyncProperty(
        credentials,
        fc.constantFrom(
          () => jobsUrl(s, a.id),
          () => `${s.baseUrl}/admin/v1/reviews/0123456789abcdef0123456789abcdef/reject`,
          () => `${s.baseUrl}/worker/v1/claim`,
        ),
        async (headers, url) => {
          const answer = await answerBeforeBody(url(), "POST", { ...headers, "content-type": JSON_TYPE });
          const context = `${url()} ${JSON.stringify(headers)} → ${answer.status} ${JSON.stringify(answer.body)}`;
          expect(answer.status, context).toBeGreaterThanOrEqual(400);
          expect(answer.status, context).toBeLessThan(500);
          expect(Object.keys(answer.body).sort(), context).toEqual(["error_code", "error_msg"]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("ACS3: checks the body against the signed hash once it arrives; a changed body uses up no nonce", async () => {
    const raw = signAcs3(s, credentialsOf(a.key), {}, { body: "PageSize=1" });
    const send = (body: string) =>
      sendRaw({ ...raw, headers: { ...raw.headers, "content-type": FORM_TYPE } }, body);
    const changed = await send("PageSize=2");
    expect(changed.status).toBe(400);
    expect(changed.body.Code).toBe("SignatureDoesNotMatch");
    const original = await send("PageSize=1");
    expect(original.status, JSON.stringify(original.body)).toBe(200);
    expect((original.body.Data as { AvatarTrainingJobList: unknown[] }).AvatarTrainingJobList).toHaveLength(
      1,
    );
    const replayed = await send("PageSize=1");
    expect(replayed.body.Code).toBe("SignatureNonceUsed");
  });
});
