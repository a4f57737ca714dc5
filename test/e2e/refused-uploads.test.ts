/**
 * Refused uploads over a keep-alive connection, with bodies of 1 MiB and more: every refusal (wrong
 * kind, too large, bad signature, bad state, unknown job or media, bad part, dead worker claim) is
 * answered in its envelope, and the client's next request on the same agent is answered too — the
 * server either read the rest of the body or said `Connection: close`, never left the socket stuck.
 */
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createAdminToken } from "../../src/services/admin-tokens.service.js";
import { MP4_HEAD } from "../support/clips.js";
import { ENGINES } from "../support/databases.js";
import { jobWaitingForTraining } from "../support/pipeline.js";
import { keepAliveClient, openRaw, within } from "../support/raw-http.js";
import { credentialsOf, type IceClient, iceCall, iceClient } from "../support/sdk-clients.js";
import { startTestServer, type TestServer, tokenApi } from "../support/server.js";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Body = any;

const MIB = 1024 * 1024;
/** A whole 1×1 PNG: random bytes after it do not change what it is sniffed as. */
const PNG_HEAD = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=",
  "base64",
);
/** Over the 1 MiB limit the server runs with. */
/**
 * Bytes that are no known file type: random bytes alone sometimes are one (1 in 65,536 start with a
 * BMP's "BM", which CI once drew), so they follow a line of text that no format starts with.
 */
const NO_TYPE = Buffer.from("These bytes are no file of any kind.\n");
const big = (head: Buffer = NO_TYPE) => Buffer.concat([head, randomBytes(MIB + MIB / 2)]);
const FAKE_ID = "0123456789abcdef0123456789abcdef";
describe.each(ENGINES)("refused uploads on a keep-alive connection on %s", (engine) => {
  let s: TestServer;
  let a: TestServer["projects"][number];
  let ice: IceClient;
  let operator: string;
  // A fresh client per test: a connection one test leaves stuck must not fail the next.
  let client: ReturnType<typeof keepAliveClient>;
  beforeEach(() => {
    client = keepAliveClient();
  });
  afterEach(() => client.close());

  beforeAll(async () => {
    s = await startTestServer(engine, [0], { DOPPEL_MAX_UPLOAD_MB: "1" });
    [a] = s.projects as [typeof a];
    ice = iceClient(s, credentialsOf(a.key), "v3");
    operator = (await createAdminToken(s.t.runtime, "refusals")).token;
  });
  afterAll(async () => s?.close());

  const api = (method: string, path: string, body?: unknown) => tokenApi(s, a)<Body>(method, path, body);
  const createJob = async (parts = 2) =>
    (await api("POST", "", { name: "Refusals", video_multipart_count: parts })).body as {
      job_id: string;
      training_video_upload_url: string[];
      cover_upload_url: string;
      grant_file_upload_url: string;
    };
  /** A URL Doppel signed itself, for paths its API would never hand out. */
  const signed = (method: "PUT" | "GET", path: string) =>
    `${s.baseUrl}${s.t.runtime.urls.sign(method, path, s.t.clock.now + 3600_000)}`;

  /**
   * PUTs `body` over the keep-alive client, expects the refusal, then checks that the connection was
   * either closed on purpose or is still good for the next request.
   */
  async function refused(url: string, body: Buffer, status: number, code: string, message?: RegExp) {
    const res = await client.request("PUT", url, body);
    expect(res.status).toBe(status);
    const parsed = JSON.parse(res.text) as Body;
    expect(parsed).toEqual({
      error_code: code,
      error_msg: message ? expect.stringMatching(message) : expect.any(String),
    });
    const next = await client.request("GET", `${s.baseUrl}/healthz`);
    expect(next.status).toBe(200);
    if (res.headers.connection !== "close") expect(next.reusedSocket).toBe(true);
    return res;
  }

  it("answers refused job-slot and part uploads in MetaStudio's envelope and keeps the client going", async () => {
    const job = await createJob(2);
    const [part1, part2] = job.training_video_upload_url as [string, string];
    await refused(
      job.cover_upload_url,
      big(),
      400,
      "MSS.10001004",
      /cover upload is of an unrecognised type/,
    );
    await refused(part1, big(MP4_HEAD), 413, "MSS.10002005", /larger than the limit of 1048576 bytes/);
    await refused(part2, big(), 413, "MSS.10002005", /larger than the limit/);
    await refused(part1, big(PNG_HEAD), 400, "MSS.10001004", /image\/png; accepted: video\/mp4/);
    const altered = new URL(part1);
    altered.searchParams.set("signature", "0".repeat(64));
    await refused(altered.toString(), big(MP4_HEAD), 403, "MSS.00010010");
    await refused(signed("PUT", `/uploads/${FAKE_ID}/cover`), big(PNG_HEAD), 404, "MSS.10002001");
    await refused(
      signed("PUT", `/uploads/${job.job_id}/training-video/5`),
      big(MP4_HEAD),
      400,
      "MSS.00000003",
      /takes parts 1 to 2/,
    );
    // After all that, the same client still uploads.
    const ok = await client.request("PUT", part2, randomBytes(MIB / 2));
    expect(ok.status).toBe(200);
  });

  it("refuses uploads to a submitted job without leaving the connection stuck", async () => {
    const job = await createJob(1);
    const part = job.training_video_upload_url[0] as string;
    expect((await client.request("PUT", part, Buffer.concat([MP4_HEAD, randomBytes(1000)]))).status).toBe(
      200,
    );
    expect((await client.request("PUT", job.grant_file_upload_url, PNG_HEAD)).status).toBe(200);
    await api("POST", `/${job.job_id}/command`, { command: "CONFIRM_MULTIPART_UPLOADED" });
    const submitted = await api("POST", `/${job.job_id}/command`, { command: "SUBMITVERIFYING" });
    expect(submitted.body).toEqual({ commond_result: "EXCUTE_SUCCESS" });
    await refused(part, big(MP4_HEAD), 409, "MSS.10002002", /cannot be uploaded in state/);
    await refused(job.cover_upload_url, big(PNG_HEAD), 409, "MSS.10002002");
  });

  it("answers refused ICE media uploads instead of resetting the connection", async () => {
    const media = async (type: "video" | "image") =>
      (await iceCall<Body>(ice, "CreateUploadMedia", { MediaType: type })).body.Data as {
        MediaId: string;
        UploadURL: string;
      };
    const video = await media("video");
    await refused(video.UploadURL, big(PNG_HEAD), 400, "MSS.10001004", /image\/png; accepted: video\/mp4/);
    await refused(video.UploadURL, big(MP4_HEAD), 413, "MSS.10002005", /larger than the limit/);
    const altered = new URL(video.UploadURL);
    altered.searchParams.set("signature", "f".repeat(64));
    await refused(altered.toString(), big(MP4_HEAD), 403, "MSS.00010010");
    await refused(signed("PUT", `/uploads/media/${FAKE_ID}`), big(MP4_HEAD), 400, "MSS.00000003", /No media/);
    const ok = await client.request("PUT", video.UploadURL, Buffer.concat([MP4_HEAD, randomBytes(MIB / 2)]));
    expect(ok.status).toBe(200);
  });

  it("refuses worker output uploads (bad signature, dead claim, too large) and keeps the client going", async () => {
    await refused(
      `${s.baseUrl}/worker/v1/tasks/${FAKE_ID}/1/outputs/model.bin?expires=9999999999&signature=${"0".repeat(64)}`,
      big(),
      403,
      "MSS.00010010",
    );
    const deadClaim = signed("PUT", `/worker/v1/tasks/${FAKE_ID}/1/outputs/*`).replace("*", "model.bin");
    await refused(deadClaim, big(), 409, "MSS.10002004", /is over/);

    await jobWaitingForTraining(s.t.runtime, a.id, s.t.clock.now);
    const claim = await fetch(`${s.baseUrl}/worker/v1/claim`, {
      method: "POST",
      headers: { Authorization: `Bearer ${operator}`, "Content-Type": "application/json" },
      body: JSON.stringify({ worker: "gpu-1" }),
    });
    const task = ((await claim.json()) as Body).task as { output_url: string };
    expect(task).not.toBeNull();
    await refused(task.output_url.replace("{path}", "model.bin"), big(), 413, "MSS.10002005");
    const ok = await client.request(
      "PUT",
      task.output_url.replace("{path}", "model.bin"),
      randomBytes(MIB / 2),
    );
    expect(ok.status).toBe(200);
  });

  it("keeps the connection for a small refused body, reading the rest of it", async () => {
    const job = await createJob(1);
    const first = await client.request(
      "PUT",
      job.cover_upload_url,
      Buffer.concat([NO_TYPE, randomBytes(100_000)]),
    );
    expect(first.status).toBe(400);
    expect(first.headers.connection).not.toBe("close");
    const next = await client.request("GET", `${s.baseUrl}/healthz`);
    expect(next).toMatchObject({ status: 200, reusedSocket: true });
  });

  it("delivers the refusal to a client that sends its whole body before reading the answer", async () => {
    const job = await createJob(2);
    const url = new URL(job.training_video_upload_url[1] as string);
    const conn = await openRaw(s.baseUrl);
    const body = randomBytes(6 * MIB);
    conn.socket.write(
      `PUT ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    // The server answers 413 after 1 MiB and closes; it must read (and drop) the rest before it closes,
    // or the kernel resets the connection and the client never sees the answer.
    conn.socket.write(body);
    const closed = await within(20_000, "the connection closing", conn.closed);
    expect(conn.received()).toMatch(/^HTTP\/1\.1 413 /);
    expect(conn.received()).toMatch(/larger than the limit/);
    expect(closed.error).toBeUndefined();
  });
});
