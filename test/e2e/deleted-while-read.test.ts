/**
 * A job deleted while other requests are reading or changing it: every one of those requests gets an
 * answer in its dialect — success, 404 (the job is gone) or 409 (it changed) — never a 5xx. Real HTTP,
 * both databases, random interleavings of a delete with show, update, commands, an upload and ICE's
 * GetAvatarTrainingJob.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MP4_HEAD } from "../support/clips.js";
import { ENGINES } from "../support/databases.js";
import { credentialsOf, type IceClient, iceCall, iceClient } from "../support/sdk-clients.js";
import { startTestServer, type TestServer, tokenApi } from "../support/server.js";

describe.each(ENGINES)("requests racing a delete on %s", (engine) => {
  let s: TestServer;
  let project: TestServer["projects"][number];
  let ice: IceClient;

  beforeAll(async () => {
    // A submit racing the delete should meet the delete, not the consent check (tested on its own).
    s = await startTestServer(engine, [0], { DOPPEL_CONSENT: "optional" });
    [project] = s.projects as [typeof project];
    ice = iceClient(s, credentialsOf(project.key), "v3");
  });
  afterAll(async () => s?.close());

  const api = async (method: string, path: string, body?: unknown) => {
    const { status, text } = await tokenApi(s, project)(method, path, body);
    return { status, body: text };
  };
  /** ICE answers errors with their HTTP status; the SDK throws them with `statusCode`. */
  const iceStatus = (jobId: string) =>
    iceCall(ice, "GetAvatarTrainingJob", { JobId: jobId }).then(
      (r) => ({ status: r.status, body: JSON.stringify(r.body) }),
      (e: { statusCode?: number; message: string }) => ({ status: e.statusCode ?? 0, body: e.message }),
    );

  it("answers 2xx, 404 or 409 to everything that races a delete, never 5xx", async () => {
    const delay = fc.integer({ min: 0, max: 15 });
    const readers = ["show", "update", "parts", "confirm", "submit", "upload", "ice"] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...readers),
        delay,
        delay,
        async (reader, readerDelay, deleteDelay) => {
          const created = JSON.parse(
            (await api("POST", "", { name: "Doomed", video_multipart_count: 1 })).body,
          ) as { job_id: string; training_video_upload_url: string[]; grant_file_upload_url: string };
          const jobId = created.job_id;
          const [url] = created.training_video_upload_url as [string];
          await fetch(url, { method: "PUT", body: Buffer.concat([MP4_HEAD, Buffer.alloc(20_000)]) });
          const read = () => {
            switch (reader) {
              case "show":
                return api("GET", `/${jobId}`);
              case "update":
                return api("PUT", `/${jobId}`, { name: "Renamed" });
              case "parts":
                return api("POST", `/${jobId}/command`, { command: "GET_MULTIPART_UPLOADED" });
              case "confirm":
                return api("POST", `/${jobId}/command`, { command: "CONFIRM_MULTIPART_UPLOADED" });
              case "submit":
                return api("POST", `/${jobId}/command`, { command: "SUBMITVERIFYING" });
              case "upload":
                return fetch(created.grant_file_upload_url, {
                  method: "PUT",
                  body: Buffer.concat([MP4_HEAD, Buffer.alloc(10_000)]),
                }).then(async (r) => ({ status: r.status, body: await r.text() }));
              case "ice":
                return iceStatus(jobId);
            }
          };
          const later = <T>(ms: number, run: () => Promise<T>) =>
            new Promise<T>((resolve, reject) => setTimeout(() => run().then(resolve, reject), ms));
          const [answer, deleted] = await Promise.all([
            later(readerDelay, read),
            later(deleteDelay, () => api("DELETE", `/${jobId}`)),
          ]);
          expect([200, 409], deleted.body).toContain(deleted.status);
          expect([200, 404, 409], `${reader}: ${answer.body}`).toContain(answer.status);
          // The job is gone, files and all, however the race went.
          if (deleted.status === 200) {
            expect((await api("GET", `/${jobId}`)).status).toBe(404);
            expect(await s.t.runtime.blobs.list(`jobs/${jobId}/`)).toEqual([]);
          }
        },
      ),
      { numRuns: 60 },
    );
  }, 120_000);
});
