/**
 * A job's files are immutable once it is submitted, and what the pipeline reads is exactly what
 * verification read. Over real HTTP on both databases and both blob stores, many random interleavings
 * of CONFIRM_MULTIPART_UPLOADED (assembling a different video), a grant-file upload, a show (which
 * adopts direct S3 uploads) and SUBMITVERIFYING race each other. The pipeline runs with stand-in stages
 * that act as independent observers: they read each job file by the key the job records and hash the
 * bytes themselves. Every job must reach JOB_SUCCESS having been verified and trained on the same bytes,
 * the ones its record names; and every download must serve bytes whose sha256 is the recorded one.
 */
import { createHash, randomBytes } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STAGES, type Stage } from "../../src/domain/pipeline.js";
import type { StageHandler } from "../../src/pipeline/stage.js";
import { assetIdOf } from "../../src/pipeline/stages/package.stage.js";
import { Worker } from "../../src/pipeline/worker.js";
import { listJobFiles } from "../../src/store/job-file.repository.js";
import { MP4_HEAD } from "../support/clips.js";
import { STORE_SETUPS, startS3Server, type TestS3Server } from "../support/s3-server.js";
import { startTestServer, type TestServer, tokenApi } from "../support/server.js";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
/** A video of `size` bytes that sniffs as MP4 and differs from every other one. */
const video = (size: number) => Buffer.concat([MP4_HEAD, randomBytes(size)]);

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Body = any;

/** What the stand-in stages saw of one job: sha256 of the bytes they read, and of the record. */
interface Observed {
  verifiedTraining?: string;
  verifiedGrant?: string;
  recordedAtVerify?: { training?: string; grant?: string };
  trainedOn?: string;
}

describe.each(STORE_SETUPS)(
  "job files stay what was verified on %s with the %s blob store",
  (engine, store) => {
    let s: TestServer;
    let s3: TestS3Server | undefined;
    let worker: Worker;
    let project: TestServer["projects"][number];
    const observed = new Map<string, Observed>();

    const api = (method: string, path: string, body?: unknown) =>
      tokenApi(s, project)<Body>(method, path, body);
    const command = (jobId: string, name: string) => api("POST", `/${jobId}/command`, { command: name });
    const put = async (url: string, body: Buffer) => (await fetch(url, { method: "PUT", body })).status;
    const download = async (url: string) => Buffer.from(await (await fetch(url)).arrayBuffer());

    /** Reads a blob by key and hashes it: what a stage would get from the store. */
    async function readSha(key: string): Promise<string> {
      const hash = createHash("sha256");
      for await (const chunk of await s.t.runtime.blobs.get(key)) hash.update(chunk as Buffer);
      return hash.digest("hex");
    }

    beforeAll(async () => {
      s3 = store === "s3" ? await startS3Server() : undefined;
      s = await startTestServer(engine, [0], {
        ...s3?.doppelEnv(),
      });
      [project] = s.projects as [typeof project];
      const db = s.t.runtime.database.db;
      const verify: StageHandler = async (_ctx, run) => {
        const files = await listJobFiles(db, run.job.id);
        const training = files.find((f) => f.slot === "training-video");
        const grant = files.find((f) => f.slot === "grant-file");
        observed.set(run.job.id, {
          verifiedTraining: training && (await readSha(training.blobKey)),
          verifiedGrant: grant && (await readSha(grant.blobKey)),
          recordedAtVerify: { training: training?.sha256, grant: grant?.sha256 },
        });
        return { description: "observed" };
      };
      const train: StageHandler = async (_ctx, run) => {
        const training = (await listJobFiles(db, run.job.id)).find((f) => f.slot === "training-video");
        const seen = observed.get(run.job.id) ?? {};
        seen.trainedOn = training && (await readSha(training.blobKey));
        observed.set(run.job.id, seen);
        return { description: "observed" };
      };
      const instant: StageHandler = async (_ctx, run) => ({
        description: "done",
        ...(run.task.stage === "package" && {
          published: { assetId: assetIdOf(run.job.id), width: 256, height: 256, fps: 25, frameCount: 50 },
        }),
      });
      const handlers = Object.fromEntries(
        STAGES.map((stage) => [stage, stage === "verify" ? verify : stage === "train" ? train : instant]),
      ) as Record<Stage, StageHandler>;
      worker = new Worker({ ...s.t.runtime, now: Date.now }, { handlers, pollMs: 20 });
      worker.start();
    });
    afterAll(async () => {
      await worker?.stop();
      await s?.close();
      await s3?.close();
    });

    async function settled(jobId: string): Promise<Body> {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const job = (await api("GET", `/${jobId}`)).body;
        if (/FAILED$|^JOB_SUCCESS$/.test(job.state) || Date.now() > deadline) return job;
        await new Promise((r) => setTimeout(r, 25));
      }
    }

    it("every job is verified and trained on the bytes it records, and downloads serve those bytes", async () => {
      const delay = fc.integer({ min: 0, max: 25 });
      await fc.assert(
        fc.asyncProperty(
          fc.record({ confirm: delay, grant: delay, show: delay, submit: delay }),
          async (delays) => {
            const created = (await api("POST", "", { name: "Race", video_multipart_count: 2 })).body as {
              job_id: string;
              training_video_upload_url: string[];
              grant_file_upload_url: string;
            };
            const jobId = created.job_id;
            const [url1, url2] = created.training_video_upload_url as [string, string];
            const first = [video(40_000), randomBytes(40_000)];
            const second = [video(60_000), randomBytes(60_000)];
            const grants = [video(20_000), video(30_000)];
            expect(await put(url1, first[0] as Buffer)).toBe(200);
            expect(await put(url2, first[1] as Buffer)).toBe(200);
            expect(await put(created.grant_file_upload_url, grants[0] as Buffer)).toBe(200);
            expect((await command(jobId, "CONFIRM_MULTIPART_UPLOADED")).status).toBe(200);
            // A second recording's parts arrive; its assembly now races the submission.
            expect(await put(url1, second[0] as Buffer)).toBe(200);
            expect(await put(url2, second[1] as Buffer)).toBe(200);

            const later = <T>(ms: number, run: () => Promise<T>) =>
              new Promise<T>((resolve, reject) => setTimeout(() => run().then(resolve, reject), ms));
            const [confirm, , , submit] = await Promise.all([
              later(delays.confirm, () => command(jobId, "CONFIRM_MULTIPART_UPLOADED")),
              later(delays.grant, () => put(created.grant_file_upload_url, grants[1] as Buffer)),
              later(delays.show, () => api("GET", `/${jobId}`)),
              later(delays.submit, () => command(jobId, "SUBMITVERIFYING")),
            ]);
            // Losers are refused, never half-applied: 409 for a change that came too late or lost a race.
            expect([200, 409]).toContain(confirm.status);
            expect([200, 409]).toContain(submit.status);
            if (submit.status !== 200) expect((await command(jobId, "SUBMITVERIFYING")).status).toBe(200);

            const job = await settled(jobId);
            expect(job.state).toBe("JOB_SUCCESS");
            const files = await listJobFiles(s.t.runtime.database.db, jobId);
            const recorded = Object.fromEntries(files.map((f) => [f.slot, f]));
            const training = recorded["training-video"];
            const grant = recorded["grant-file"];
            expect([sha256(Buffer.concat(first)), sha256(Buffer.concat(second))]).toContain(training?.sha256);
            expect(grants.map(sha256)).toContain(grant?.sha256);

            const seen = observed.get(jobId);
            expect(seen?.recordedAtVerify).toEqual({ training: training?.sha256, grant: grant?.sha256 });
            expect(seen?.verifiedTraining).toBe(training?.sha256);
            expect(seen?.verifiedGrant).toBe(grant?.sha256);
            expect(seen?.trainedOn).toBe(training?.sha256);
            // Every file's blob still holds exactly the recorded bytes, and downloads serve them.
            for (const file of files) expect(await readSha(file.blobKey)).toBe(file.sha256);
            expect(sha256(await download(job.training_video_download_url))).toBe(training?.sha256);
            expect(sha256(await download(job.grant_file_download_url))).toBe(grant?.sha256);
          },
        ),
        { numRuns: 12 },
      );
    }, 120_000);
  },
);
