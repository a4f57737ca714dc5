/**
 * Huawei's SDK-HMAC-SHA256 has no nonce, so a captured request verifies again for as long as its
 * X-Sdk-Date is within the 15-minute window. A replayed create must be harmless when the client sent
 * X-Client-Token: it names one job for good, even after that job is deleted, and the token cannot be
 * added to (or changed in) a captured request because it must be signed. Requests are captured on the
 * wire between the real Huawei SDK and a real server, then sent again byte for byte.
 */

import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENGINES } from "../support/databases.js";
import {
  credentialsOf,
  type HcClient,
  type HuaweiSdkError,
  huaweiCall,
  huaweiClient,
  huaweiError,
  huaweiListJobs,
  iceCall,
  iceClient,
  iceError,
  METASTUDIO_JOBS,
} from "../support/sdk-clients.js";
import { startTestServer, type TestServer } from "../support/server.js";

type Project = TestServer["projects"][number];

/** A request exactly as it crossed the wire. */
interface Captured {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** Sends a captured request to `baseUrl` again, every header (host included) and body byte as captured. */
function resend(
  baseUrl: string,
  request: Captured,
): Promise<Answer & { raw: Buffer; headers: http.IncomingHttpHeaders }> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: hostname,
        port,
        method: request.method,
        path: request.path,
        headers: request.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const raw = Buffer.concat(chunks);
          const text = raw.toString("utf8");
          resolve({
            status: res.statusCode ?? 0,
            body: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>),
            raw,
            headers: res.headers,
          });
        });
      },
    );
    req.on("error", reject);
    req.end(request.body);
  });
}

/** A forwarding proxy that records every request the SDK sends through it. */
async function startRecorder(
  target: string,
): Promise<{ url: string; captured: Captured[]; close(): Promise<void> }> {
  const captured: Captured[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const request = {
        method: req.method ?? "GET",
        path: req.url ?? "/",
        headers: { ...req.headers },
        body: Buffer.concat(chunks),
      };
      captured.push(request);
      resend(target, request).then(
        (answer) => {
          const { "transfer-encoding": _te, "content-length": _cl, ...headers } = answer.headers;
          res.writeHead(answer.status, headers).end(answer.raw);
        },
        (error: Error) => res.writeHead(502).end(error.message),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    captured,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe.each(ENGINES)("replayed Huawei-signed requests on %s", (engine) => {
  let s: TestServer;
  let a: Project;
  let recorder: Awaited<ReturnType<typeof startRecorder>>;
  let client: HcClient;

  beforeAll(async () => {
    s = await startTestServer(engine, [2, 1]);
    [a] = s.projects as [Project];
    recorder = await startRecorder(s.baseUrl);
    client = huaweiClient({ baseUrl: recorder.url } as TestServer, credentialsOf(a.key));
  });
  afterAll(async () => {
    await recorder?.close();
    await s?.close();
  });

  const lastCaptured = (): Captured => recorder.captured[recorder.captured.length - 1] as Captured;
  const jobNames = async (): Promise<string[]> =>
    (await huaweiListJobs(client, a.id, { limit: 100 })).body.jobs.map((j) => String(j.name));

  it("a replayed create with X-Client-Token returns its job, and after the job is deleted creates nothing", async () => {
    const created = await huaweiCall<{ job_id: string }>(
      client,
      "POST",
      METASTUDIO_JOBS,
      { project_id: a.id },
      { name: "Replay me" },
      { "X-Client-Token": "replay-token-1" },
    );
    const capturedCreate = lastCaptured();
    expect(capturedCreate.headers.authorization).toMatch(/SignedHeaders=[^,]*x-client-token/);

    const again = await resend(s.baseUrl, capturedCreate);
    expect(again.status).toBe(200);
    expect(again.body.job_id).toBe(created.body.job_id);

    await huaweiCall(client, "DELETE", `${METASTUDIO_JOBS}/{job_id}`, {
      project_id: a.id,
      job_id: created.body.job_id,
    });
    for (let i = 0; i < 2; i++) {
      const replayed = await resend(s.baseUrl, capturedCreate);
      expect(replayed.status, JSON.stringify(replayed.body)).toBe(409);
      expect(Object.keys(replayed.body).sort()).toEqual(["error_code", "error_msg"]);
      expect(replayed.body.error_code).toBe("MSS.10002006");
      expect(String(replayed.body.error_msg)).toContain("replay-token-1");
      expect(String(replayed.body.error_msg)).toContain(created.body.job_id);
    }
    expect(await jobNames()).not.toContain("Replay me");

    // Freshly signed with the same token: still that deleted job's token.
    const fresh = (await huaweiError(
      huaweiCall(
        client,
        "POST",
        METASTUDIO_JOBS,
        { project_id: a.id },
        { name: "Replay me" },
        {
          "X-Client-Token": "replay-token-1",
        },
      ),
    )) as HuaweiSdkError;
    expect(fresh.httpStatusCode).toBe(409);
    expect(fresh.errorCode).toBe("MSS.10002006");
  });

  it("refuses an X-Client-Token or X-App-UserId that the signature does not cover", async () => {
    await huaweiCall(client, "POST", METASTUDIO_JOBS, { project_id: a.id }, { name: "No token" });
    const capturedCreate = lastCaptured();
    const before = (await jobNames()).length;
    // Adding a token to a captured create would make each replay with a new token a new job.
    const withToken = await resend(s.baseUrl, {
      ...capturedCreate,
      headers: { ...capturedCreate.headers, "x-client-token": "added-later" },
    });
    expect(withToken.status, JSON.stringify(withToken.body)).toBe(401);
    expect(withToken.body.error_code).toBe("MSS.00010008");
    expect(String(withToken.body.error_msg)).toContain("x-client-token");
    expect((await jobNames()).length).toBe(before);

    await huaweiListJobs(client, a.id);
    const capturedList = lastCaptured();
    const narrowed = await resend(s.baseUrl, {
      ...capturedList,
      headers: { ...capturedList.headers, "x-app-userid": "someone-else" },
    });
    expect(narrowed.status).toBe(401);
    expect(String(narrowed.body.error_msg)).toContain("x-app-userid");
  });

  it("ICE: a ClientToken whose job was deleted creates no other job", async () => {
    const ice = iceClient(s, credentialsOf(a.key), "v3");
    const first = await iceCall<{ Data: { JobId: string } }>(ice, "CreateAvatarTrainingJob", {
      AvatarName: "Ice replay",
      ClientToken: "ice-token-1",
    });
    await iceCall(ice, "DeleteAvatarTrainingJob", { JobId: first.body.Data.JobId });
    const error = await iceError(
      iceCall(ice, "CreateAvatarTrainingJob", { AvatarName: "Ice replay", ClientToken: "ice-token-1" }),
    );
    expect(error.statusCode).toBe(409);
    expect(error.code).toBe("OperationDenied.ClientTokenUsed");
    expect(String(error.data?.Message)).toContain(first.body.Data.JobId);
  });
});
