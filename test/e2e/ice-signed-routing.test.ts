/**
 * The ICE action and version must come from what the signature covers. RPC v1 (HMAC-SHA1) signs only
 * the parameters (query and form body), not the `x-acs-*` headers the SDK also sends, so an unsigned
 * `x-acs-action` header must never pick the action. ACS3 signs headers, and every `x-acs-*` header must
 * be among its SignedHeaders. Real HTTP, both databases.
 */

import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENGINES } from "../support/databases.js";
import {
  acsDate,
  credentialsOf,
  hostOf,
  ICE_VERSION,
  queryString,
  sendRaw,
  signAcs3,
  signRpcV1,
} from "../support/sdk-clients.js";
import { startTestServer, type TestServer } from "../support/server.js";

const requireCjs = createRequire(import.meta.url);
const OpenApiUtil = (requireCjs("@alicloud/openapi-util") as typeof import("@alicloud/openapi-util")).default;

type Project = TestServer["projects"][number];

describe.each(ENGINES)("ICE takes its action only from signed input on %s", (engine) => {
  let s: TestServer;
  let a: Project;

  beforeAll(async () => {
    s = await startTestServer(engine, [3, 1]);
    [a] = s.projects as [Project];
  });
  afterAll(async () => s?.close());

  it("HMAC-SHA1: an unsigned x-acs-action header does not stand in for a missing Action", async () => {
    const raw = signRpcV1(s, credentialsOf(a.key), { PageSize: "5" }, { without: ["Action"] });
    const { status, body } = await sendRaw({
      ...raw,
      headers: { ...raw.headers, "x-acs-action": "ListAvatarTrainingJobs" },
    });
    expect(status).toBe(400);
    expect(body).toMatchObject({ Code: "MissingParameter" });
    expect(String(body.Message)).toContain("Action");
  });

  it("HMAC-SHA1: an unsigned x-acs-version header does not stand in for a missing Version", async () => {
    const raw = signRpcV1(s, credentialsOf(a.key), { PageSize: "5" }, { without: ["Version"] });
    const { status, body } = await sendRaw({
      ...raw,
      headers: { ...raw.headers, "x-acs-version": ICE_VERSION },
    });
    expect(status).toBe(400);
    expect(body).toMatchObject({ Code: "MissingParameter" });
    expect(String(body.Message)).toContain("Version");
  });

  it("HMAC-SHA1: the signed Action wins over a different x-acs-action header", async () => {
    const raw = signRpcV1(s, credentialsOf(a.key), { PageSize: "5" });
    const { status, body } = await sendRaw({
      ...raw,
      headers: { ...raw.headers, "x-acs-action": "DeleteAvatarTrainingJob" },
    });
    expect(status).toBe(200);
    expect((body.Data as { TotalCount: number }).TotalCount).toBe(a.jobs);
  });

  it("HMAC-SHA1: Action and Version signed in a form body are used", async () => {
    const params: Record<string, string> = {
      Action: "ListAvatarTrainingJobs",
      Version: ICE_VERSION,
      Format: "json",
      Timestamp: acsDate(Date.now()),
      SignatureNonce: randomUUID(),
      SignatureMethod: "HMAC-SHA1",
      SignatureVersion: "1.0",
      AccessKeyId: a.key.access_key_id,
      PageSize: "2",
    };
    params.Signature = OpenApiUtil.getRPCSignature(params, "POST", a.key.secret_access_key);
    const { Action, Version, PageSize, ...inQuery } = params;
    const form = queryString({ Action, Version, PageSize } as Record<string, string>);
    const { status, body } = await sendRaw(
      {
        url: `${s.baseUrl}/?${queryString(inQuery)}`,
        method: "POST",
        headers: { host: hostOf(s), "content-type": "application/x-www-form-urlencoded" },
      },
      form,
    );
    expect(status, JSON.stringify(body)).toBe(200);
    expect((body.Data as { AvatarTrainingJobList: unknown[] }).AvatarTrainingJobList).toHaveLength(2);
  });

  it("ACS3: an x-acs-action header left out of SignedHeaders is refused", async () => {
    const raw = signAcs3(s, credentialsOf(a.key), { PageSize: "5" });
    for (const name of ["x-acs-action", "x-acs-version"]) {
      const authorization = (raw.headers.authorization ?? "").replace(`;${name}`, "");
      const { status, body } = await sendRaw({ ...raw, headers: { ...raw.headers, authorization } });
      expect(status).toBe(400);
      expect(body).toMatchObject({ Code: "IncompleteSignature" });
      expect(String(body.Message)).toContain(name);
    }
  });
});
