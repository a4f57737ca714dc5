import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENGINES } from "../support/databases.js";
import { startTestApp, type TestServer } from "../support/server.js";

describe.each(ENGINES)("health and unknown paths on %s", (engine) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestApp(engine, [1]);
  });
  afterAll(async () => s?.close());

  it("reports liveness and readiness without credentials", async () => {
    const live = await s.fetch(`${s.baseUrl}/healthz`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: "ok" });
    const ready = await s.fetch(`${s.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready", database: engine });
  });

  it("answers a path outside both APIs in Alibaba's envelope with a request id", async () => {
    const res = await s.fetch(`${s.baseUrl}/nowhere?x=1`);
    expect(res.status).toBe(404);
    const body = (await res.json()) as Record<string, string>;
    expect(Object.keys(body).sort()).toEqual(["Code", "HostId", "Message", "Recommend", "RequestId"]);
    expect(body.Code).toBe("InvalidApi.NotFound");
    expect(body.RequestId).toMatch(/^[0-9A-F-]{36}$/);
    expect(res.headers.get("x-request-id")).toBe(body.RequestId?.replaceAll("-", "").toLowerCase());
  });

  it("answers an over-long request line in the dialect it points at", async () => {
    // Node's HTTP parser refuses the line before Fastify sees a request: this needs the socket.
    const baseUrl = await s.listen();
    const ice = await fetch(`${baseUrl}/?PageSize=${"x".repeat(20_000)}`);
    expect(ice.status).toBe(431);
    expect(await ice.json()).toMatchObject({
      Code: "InvalidParameter",
      Message: expect.stringMatching(/16 KiB/),
    });
    const ms = await fetch(
      `${baseUrl}/v1/p/digital-human-training-manage/user/jobs?name=${"x".repeat(20_000)}`,
    );
    expect(ms.status).toBe(431);
    expect(await ms.json()).toEqual({
      error_code: "MSS.00000003",
      error_msg: expect.stringMatching(/16 KiB/),
    });
  });

  it("asks for credentials on the ICE endpoint", async () => {
    const res = await s.fetch(`${s.baseUrl}/?Action=ListAvatarTrainingJobs&Version=2020-11-09`);
    expect(res.status).toBe(400);
    const body = (await res.json()) as Record<string, string>;
    expect(body.Code).toBe("MissingAccessKeyId");
    expect(body.Message).toMatch(/ACS3-HMAC-SHA256/);
  });
});
