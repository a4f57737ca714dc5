import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MP4_HEAD } from "../support/clips.js";
import { STORE_SETUPS, startS3Server, type TestS3Server } from "../support/s3-server.js";
import { jobsUrl, startTestServer, type TestServer } from "../support/server.js";

/** A whole 1×1 PNG. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=",
  "base64",
);
const md5 = (b: Buffer) => createHash("md5").update(b).digest("hex");
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe.each(STORE_SETUPS)(
  "MetaStudio upload, confirm and submit on %s with the %s blob store",
  (engine, store) => {
    let s: TestServer;
    let s3: TestS3Server | undefined;
    let a: TestServer["projects"][number];
    const api = (method: string, path: string, body?: unknown) =>
      fetch(`${jobsUrl(s, a.id)}${path}`, {
        method,
        headers: {
          "X-Auth-Token": a.token,
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const command = async (jobId: string, name: string) => {
      const res = await api("POST", `/${jobId}/command`, { command: name });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const put = (url: string, body: Buffer) => fetch(url, { method: "PUT", body });
    const create = async (parts: number) =>
      (await (await api("POST", "", { name: "Flow", video_multipart_count: parts })).json()) as {
        job_id: string;
        training_video_upload_url: string[];
        cover_upload_url: string;
      };

    beforeAll(async () => {
      s3 = store === "s3" ? await startS3Server() : undefined;
      // These tests are about uploads; the consent a submission needs is tested in consent.test.ts.
      s = await startTestServer(engine, [40], {
        DOPPEL_CONSENT: "optional",
        DOPPEL_MAX_UPLOAD_MB: "1",
        ...s3?.doppelEnv(),
      });
      [a] = s.projects as [typeof a];
    });
    afterAll(async () => {
      await s?.close();
      await s3?.close();
    });

    it("goes from create through part uploads and assembly to AUTO_VERIFYING, logging each step", async () => {
      const job = await create(3);
      const parts = [Buffer.concat([MP4_HEAD, randomBytes(50_000)]), randomBytes(70_000), randomBytes(10)];
      // Out of order, and part 2 twice: the second upload replaces the first.
      await put(job.training_video_upload_url[1] as string, randomBytes(999));
      for (const i of [2, 0, 1]) {
        const res = await put(job.training_video_upload_url[i] as string, parts[i] as Buffer);
        expect(res.status).toBe(200);
        expect(res.headers.get("etag")).toBe(`"${md5(parts[i] as Buffer)}"`);
      }
      const early = await command(job.job_id, "SUBMITVERIFYING");
      expect(early.status).toBe(409);
      expect(String(early.body.error_msg)).toMatch(/CONFIRM_MULTIPART_UPLOADED/);

      const listed = await command(job.job_id, "GET_MULTIPART_UPLOADED");
      expect(listed).toEqual({
        status: 200,
        body: {
          commond_result: "EXCUTE_SUCCESS",
          multipart_data: parts.map((p, i) => ({ part_number: i + 1, etag: md5(p) })),
        },
      });
      expect(await command(job.job_id, "CONFIRM_MULTIPART_UPLOADED")).toEqual({
        status: 200,
        body: { commond_result: "EXCUTE_SUCCESS" },
      });
      const confirmed = (await (await api("GET", `/${job.job_id}`)).json()) as {
        training_video_download_url: string;
      };
      const download = await fetch(confirmed.training_video_download_url);
      expect(download.status).toBe(200);
      expect(Buffer.from(await download.arrayBuffer()).equals(Buffer.concat(parts))).toBe(true);
      // Doppel's own download route also names the sha256; S3's presigned URL is answered by S3 itself.
      expect(download.headers.get("x-content-sha256")).toBe(
        store === "local" ? sha256(Buffer.concat(parts)) : null,
      );
      const altered = new URL(confirmed.training_video_download_url);
      if (store === "local") altered.searchParams.set("signature", "0".repeat(64));
      // s3rver checks a presigned URL's expiry but not its signature (S3 itself checks both).
      else altered.searchParams.set("X-Amz-Date", "20200101T000000Z");
      expect((await fetch(altered)).status).toBe(403);
      expect((await command(job.job_id, "SUBMITVERIFYING")).body).toEqual({
        commond_result: "EXCUTE_SUCCESS",
      });

      const detail = (await (await api("GET", `/${job.job_id}`)).json()) as {
        state: string;
        operation_logs: Array<{ log_type: string; log_description: string }>;
      };
      expect(detail.state).toBe("AUTO_VERIFYING");
      expect(detail.operation_logs.map((l) => l.log_type)).toEqual([
        "CREATE_JOB",
        "CONFIRM_MULTIPART_UPLOADED",
        "SUBMITVERIFYING",
      ]);
      const whole = Buffer.concat(parts);
      expect(detail.operation_logs[1]?.log_description).toContain(
        `${whole.length} bytes, sha256 ${sha256(whole)}`,
      );

      // Submitted: no more uploads, no second submit. A part PUT straight to S3 lands in the bucket,
      // but the assembled video the job recorded stays as it was.
      const late = await put(job.training_video_upload_url[0] as string, randomBytes(100));
      if (store === "local") {
        expect(late.status).toBe(409);
        expect(((await late.json()) as { error_msg: string }).error_msg).toContain("AUTO_VERIFYING");
      } else expect(late.status).toBe(200);
      const after = await fetch(confirmed.training_video_download_url);
      expect(Buffer.from(await after.arrayBuffer()).equals(whole)).toBe(true);
      const again = await command(job.job_id, "SUBMITVERIFYING");
      expect(again.status).toBe(409);
      expect(String(again.body.error_msg)).toContain("AUTO_VERIFYING");
    });

    it("refuses missing parts, wrong kinds of file, oversized parts and altered or expired URLs", async () => {
      const job = await create(2);
      await put(job.training_video_upload_url[0] as string, Buffer.concat([MP4_HEAD, randomBytes(100)]));
      const missing = await command(job.job_id, "CONFIRM_MULTIPART_UPLOADED");
      expect(missing.status).toBe(400);
      expect(String(missing.body.error_msg)).toMatch(/missing training-video part 2 of 2/);

      // Doppel refuses a bad part as it arrives; S3 takes anything, so Doppel refuses it at confirm time.
      const refusal = async (res: Response, status: number) => {
        if (store === "local") {
          expect(res.status).toBe(status);
          return ((await res.json()) as { error_msg: string }).error_msg;
        }
        expect(res.status).toBe(200);
        const confirm = await command(job.job_id, "CONFIRM_MULTIPART_UPLOADED");
        expect(confirm.status).toBe(status);
        return String(confirm.body.error_msg);
      };
      await put(job.training_video_upload_url[1] as string, randomBytes(100));
      const png = await put(job.training_video_upload_url[0] as string, PNG);
      expect(await refusal(png, 400)).toMatch(/image\/png; accepted: video\/mp4/);
      await put(job.training_video_upload_url[0] as string, Buffer.concat([MP4_HEAD, randomBytes(100)]));
      const cover = await put(job.cover_upload_url, PNG);
      expect(cover.status).toBe(200);

      const big = await put(job.training_video_upload_url[1] as string, randomBytes(1024 * 1024 + 1));
      expect(await refusal(big, 413)).toMatch(/larger than the limit of 1048576 bytes/);
      if (store === "local") {
        // Far over the limit: the answer still arrives (the body is dropped, not the connection).
        const huge = await put(job.training_video_upload_url[1] as string, randomBytes(8 * 1024 * 1024));
        expect(huge.status).toBe(413);
        expect(((await huge.json()) as { error_msg: string }).error_msg).toMatch(/larger than the limit/);
      }
      const logs = (await (await api("GET", `/${job.job_id}`)).json()) as {
        operation_logs: Array<{ log_type: string }>;
      };
      expect(logs.operation_logs.map((l) => l.log_type)).not.toContain("CONFIRM_MULTIPART_UPLOADED");

      const url = new URL(job.training_video_upload_url[1] as string);
      if (store === "s3") {
        // s3rver checks a presigned URL's expiry but not its signature (S3 itself checks both).
        url.searchParams.set("X-Amz-Date", "20200101T000000Z");
        expect((await put(url.toString(), randomBytes(10))).status).toBe(403);
        return;
      }
      const otherPart = url.toString().replace("/training-video/2?", "/training-video/1?");
      expect((await put(otherPart, randomBytes(10))).status).toBe(403);
      url.searchParams.set("expires", String(Number(url.searchParams.get("expires")) + 60));
      expect((await put(url.toString(), randomBytes(10))).status).toBe(403);
      const saved = s.t.clock.now;
      s.t.clock.set(saved + 25 * 3600_000);
      try {
        const expired = await put(job.training_video_upload_url[1] as string, randomBytes(10));
        expect(expired.status).toBe(403);
        expect(((await expired.json()) as { error_msg: string }).error_msg).toMatch(/expired/);
      } finally {
        s.t.clock.set(saved);
      }
    });

    it("shows single files once uploaded, the latest upload winning, and refuses to submit with a bad one", async () => {
      const job = await create(1);
      const coverOf = async () => {
        const detail = (await (await api("GET", `/${job.job_id}`)).json()) as {
          cover_download_url?: string;
        };
        if (detail.cover_download_url === undefined) return undefined;
        return Buffer.from(await (await fetch(detail.cover_download_url)).arrayBuffer());
      };
      expect(await coverOf()).toBeUndefined();
      const first = Buffer.concat([PNG, Buffer.from("first")]);
      const second = Buffer.concat([PNG, Buffer.from("second")]);
      expect((await put(job.cover_upload_url, first)).status).toBe(200);
      expect(await coverOf()).toEqual(first);
      expect((await put(job.cover_upload_url, second)).status).toBe(200);
      expect(await coverOf()).toEqual(second);

      const text = await put(job.cover_upload_url, Buffer.from("not an image at all"));
      expect(text.status).toBe(store === "local" ? 400 : 200);
      expect(await coverOf()).toEqual(second);
      await put(job.training_video_upload_url[0] as string, Buffer.concat([MP4_HEAD, randomBytes(100)]));
      expect((await command(job.job_id, "CONFIRM_MULTIPART_UPLOADED")).status).toBe(200);
      if (store === "s3") {
        // The bad cover is in the bucket: Doppel will not submit the job with it, and says why.
        const refused = await command(job.job_id, "SUBMITVERIFYING");
        expect(refused.status).toBe(400);
        expect(String(refused.body.error_msg)).toMatch(/cover upload is of an unrecognised type/);
        expect((await put(job.cover_upload_url, first)).status).toBe(200);
      }
      expect((await command(job.job_id, "SUBMITVERIFYING")).status).toBe(200);
      expect(await coverOf()).toEqual(store === "local" ? second : first);
      await put(job.cover_upload_url, second);
      expect(await coverOf()).toEqual(store === "local" ? second : first);
    });

    // With S3 a part goes straight to the bucket, whose PUT is atomic itself: no Doppel code to test.
    it.skipIf(store === "s3")("keeps the previous part when an upload is cut off midway", async () => {
      const job = await create(2);
      const first = Buffer.concat([MP4_HEAD, randomBytes(1000)]);
      await put(job.training_video_upload_url[0] as string, first);
      const url = new URL(job.training_video_upload_url[0] as string);
      await new Promise<void>((resolve) => {
        const req = http.request(
          {
            host: url.hostname,
            port: url.port,
            path: url.pathname + url.search,
            method: "PUT",
            headers: { "Content-Length": 500_000 },
          },
          () => resolve(),
        );
        req.on("error", () => resolve());
        req.write(Buffer.concat([MP4_HEAD, randomBytes(100_000)]));
        setTimeout(() => req.destroy(), 100);
      });
      await new Promise((r) => setTimeout(r, 200));
      const listed = await command(job.job_id, "GET_MULTIPART_UPLOADED");
      expect(listed.body.multipart_data).toEqual([{ part_number: 1, etag: md5(first) }]);
    });

    it("lets exactly one of two concurrent commands win and checks every command against the state", async () => {
      const list = (await (
        await api("GET", "?limit=100&state=MANUAL_VERIFYING,WAIT_USER_CONFIRM")
      ).json()) as {
        jobs: Array<{ job_id: string; state: string }>;
      };
      const verifying = list.jobs.find((j) => j.state === "MANUAL_VERIFYING");
      const confirming = list.jobs.find((j) => j.state === "WAIT_USER_CONFIRM");
      expect(verifying && confirming).toBeTruthy();
      const id = verifying?.job_id as string;
      const both = await Promise.all([command(id, "CONFIRM_PENDING"), command(id, "CONFIRM_PENDING")]);
      expect(both.map((r) => r.status).sort()).toEqual([200, 409]);
      expect(((await (await api("GET", `/${id}`)).json()) as { state: string }).state).toBe("JOB_PENDING");
      expect((await command(id, "CONFIRM_ACTIVE")).status).toBe(200);
      expect(((await (await api("GET", `/${id}`)).json()) as { state: string }).state).toBe(
        "MANUAL_VERIFYING",
      );

      const cid = confirming?.job_id as string;
      expect((await command(cid, "CONFIRM_ACCEPT")).status).toBe(200);
      const twice = await command(cid, "CONFIRM_REJECT");
      expect(twice.status).toBe(409);
      expect(String(twice.body.error_msg)).toContain("JOB_FINISH");
      const unknown = await command(cid, "CONFIRM_MAGIC");
      expect(unknown.status).toBe(400);
      expect(String(unknown.body.error_msg)).toMatch(/not a command Doppel carries out/);
    });

    it("answers concurrent confirms and a submit without a 5xx, keeping one consistent history", async () => {
      const job = await create(1);
      await put(job.training_video_upload_url[0] as string, Buffer.concat([MP4_HEAD, randomBytes(2000)]));
      expect((await command(job.job_id, "CONFIRM_MULTIPART_UPLOADED")).status).toBe(200);
      const results = await Promise.all([
        command(job.job_id, "CONFIRM_MULTIPART_UPLOADED"),
        command(job.job_id, "CONFIRM_MULTIPART_UPLOADED"),
        command(job.job_id, "SUBMITVERIFYING"),
        command(job.job_id, "CONFIRM_MULTIPART_UPLOADED"),
      ]);
      for (const r of results) expect([200, 409]).toContain(r.status);
      // A submit that lost the race to a confirm changed nothing; the client submits again.
      if (results[2]?.status === 409) expect((await command(job.job_id, "SUBMITVERIFYING")).status).toBe(200);
      const detail = (await (await api("GET", `/${job.job_id}`)).json()) as {
        state: string;
        operation_logs: Array<{ log_type: string }>;
      };
      expect(detail.state).toBe("AUTO_VERIFYING");
      expect(detail.operation_logs.filter((l) => l.log_type === "SUBMITVERIFYING")).toHaveLength(1);
      const confirms = results.filter((r, i) => i !== 2 && r.status === 200).length;
      expect(detail.operation_logs.filter((l) => l.log_type === "CONFIRM_MULTIPART_UPLOADED")).toHaveLength(
        1 + confirms,
      );
    });

    it("updates a job only after a failed check, with fresh upload URLs", async () => {
      const job = await create(1);
      const early = await api("PUT", `/${job.job_id}`, { name: "Renamed" });
      expect(early.status).toBe(409);
      expect(((await early.json()) as { error_msg: string }).error_msg).toContain("WAIT_FILE_UPLOAD");

      const { updateJobState, findVersionedJob } = await import("../../src/store/job.repository.js");
      const current = await findVersionedJob(s.t.runtime.database.db, a.id, job.job_id);
      await updateJobState(s.t.runtime.database.db, job.job_id, current?.version ?? 0, {
        state: "AUTO_VERIFY_FAILED",
        updateTime: s.t.clock.now,
      });
      const res = await api("PUT", `/${job.job_id}`, {
        name: "Renamed",
        video_multipart_count: 2,
        tags: ["retry"],
      });
      expect(res.status).toBe(200);
      const urls = (await res.json()) as { job_id: string; training_video_upload_url: string[] };
      expect(urls.job_id).toBe(job.job_id);
      expect(urls.training_video_upload_url).toHaveLength(2);
      const detail = (await (await api("GET", `/${job.job_id}`)).json()) as Record<string, unknown>;
      expect(detail).toMatchObject({
        name: "Renamed",
        tags: ["retry"],
        video_multipart_count: 2,
        state: "AUTO_VERIFY_FAILED",
      });
      expect((await put(urls.training_video_upload_url[1] as string, randomBytes(10))).status).toBe(200);
      const bad = await api("PUT", `/${job.job_id}`, { video_multipart_count: 0 });
      expect(bad.status).toBe(400);
    });

    it("deletes a job together with its files", async () => {
      const job = await create(1);
      await put(job.training_video_upload_url[0] as string, Buffer.concat([MP4_HEAD, randomBytes(100)]));
      expect((await s.t.runtime.blobs.list(`jobs/${job.job_id}/`)).length).toBe(1);
      expect((await api("DELETE", `/${job.job_id}`)).status).toBe(200);
      expect(await s.t.runtime.blobs.list(`jobs/${job.job_id}/`)).toEqual([]);
    });
  },
);
