import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENGINES } from "../support/databases.js";
import {
  credentialsOf,
  type HcClient,
  huaweiCall,
  huaweiClient,
  huaweiError,
  huaweiListJobs,
  METASTUDIO_JOBS,
} from "../support/sdk-clients.js";
import { startTestServer, type TestServer } from "../support/server.js";

const MP4_HEAD = Buffer.from("000000186674797069736f6d0000020069736f6d69736f32", "hex");
const JOB = `${METASTUDIO_JOBS}/{job_id}`;
const COMMAND = `${JOB}/command`;

describe.each(ENGINES)(
  "a MetaStudio job's life through @huaweicloud/huaweicloud-sdk-core on %s",
  (engine) => {
    let s: TestServer;
    let client: HcClient;
    let projectId: string;

    beforeAll(async () => {
      s = await startTestServer(engine, [5]);
      const project = s.projects[0] as TestServer["projects"][number];
      projectId = project.id;
      client = huaweiClient(s, credentialsOf(project.key));
    });
    afterAll(async () => s?.close());

    it("creates, uploads parts, confirms, submits, shows its logs and deletes a job", async () => {
      const created = await huaweiCall<{
        job_id: string;
        training_video_upload_url: string[];
        grant_file_upload_url: string;
      }>(
        client,
        "POST",
        METASTUDIO_JOBS,
        { project_id: projectId },
        { name: "SDK", video_multipart_count: 2, tags: ["sdk"] },
      );
      expect(created.status).toBe(200);
      expect(created.requestId).toMatch(/^[0-9a-f]{32}$/);
      const jobId = created.body.job_id;
      const ids = { project_id: projectId, job_id: jobId };

      // The customer's code PUTs the parts to the presigned URLs with any HTTP client.
      const parts = [Buffer.concat([MP4_HEAD, randomBytes(4000)]), randomBytes(3000)];
      for (const [i, part] of parts.entries()) {
        const res = await fetch(created.body.training_video_upload_url[i] as string, {
          method: "PUT",
          body: part,
        });
        expect(res.status).toBe(200);
      }
      const listed = await huaweiCall<{ multipart_data: Array<{ part_number: number; etag: string }> }>(
        client,
        "POST",
        COMMAND,
        ids,
        { command: "GET_MULTIPART_UPLOADED" },
      );
      expect(listed.body.multipart_data.map((p) => p.etag)).toEqual(
        parts.map((p) => createHash("md5").update(p).digest("hex")),
      );
      const confirmed = await huaweiCall(client, "POST", COMMAND, ids, {
        command: "CONFIRM_MULTIPART_UPLOADED",
      });
      expect(confirmed.body).toEqual({ commond_result: "EXCUTE_SUCCESS" });
      // No likeness without consent: the SDK raises the refusal, which says what to upload.
      const unconsented = await huaweiError(
        huaweiCall(client, "POST", COMMAND, ids, { command: "SUBMITVERIFYING" }),
      );
      expect([unconsented.httpStatusCode, unconsented.errorCode]).toEqual([400, "MSS.10001004"]);
      expect(unconsented.errorMsg).toMatch(/no consent.*grant_file_upload_url/);
      const consent = Buffer.concat([MP4_HEAD, randomBytes(2000)]);
      expect((await fetch(created.body.grant_file_upload_url, { method: "PUT", body: consent })).status).toBe(
        200,
      );
      const submitted = await huaweiCall(client, "POST", COMMAND, ids, { command: "SUBMITVERIFYING" });
      expect(submitted.body).toEqual({ commond_result: "EXCUTE_SUCCESS" });

      const shown = await huaweiCall<{
        state: string;
        operation_logs: Array<{ log_type: string; operate_user: string }>;
      }>(client, "GET", JOB, ids);
      expect(shown.body.state).toBe("AUTO_VERIFYING");
      expect(shown.body.operation_logs.map((l) => [l.log_type, l.operate_user])).toEqual([
        ["CREATE_JOB", "USER"],
        ["CONFIRM_MULTIPART_UPLOADED", "USER"],
        ["UPLOAD_FILE", "USER"],
        ["SUBMITVERIFYING", "USER"],
      ]);
      const inList = await huaweiListJobs(client, projectId, { job_id: jobId });
      expect(inList.body.jobs[0]).toMatchObject({ job_id: jobId, state: "AUTO_VERIFYING", tags: ["sdk"] });

      // AUTO_VERIFYING may not be deleted: the SDK raises the dialect's error naming the state.
      const refused = await huaweiError(huaweiCall(client, "DELETE", JOB, ids));
      expect(refused.httpStatusCode).toBe(409);
      expect(refused.errorCode).toBe("MSS.10002002");
      expect(refused.errorMsg).toContain("AUTO_VERIFYING");

      const draft = await huaweiCall<{ job_id: string }>(
        client,
        "POST",
        METASTUDIO_JOBS,
        { project_id: projectId },
        { name: "Draft" },
      );
      const deleted = await huaweiCall(client, "DELETE", JOB, {
        project_id: projectId,
        job_id: draft.body.job_id,
      });
      expect(deleted.status).toBe(200);
      const gone = await huaweiError(
        huaweiCall(client, "GET", JOB, { project_id: projectId, job_id: draft.body.job_id }),
      );
      expect([gone.httpStatusCode, gone.errorCode]).toEqual([404, "MSS.10002001"]);
    });

    it("refuses a command in a state that does not allow it, naming the state", async () => {
      const draft = await huaweiCall<{ job_id: string }>(
        client,
        "POST",
        METASTUDIO_JOBS,
        { project_id: projectId },
        { name: "Early" },
      );
      const ids = { project_id: projectId, job_id: draft.body.job_id };
      const error = await huaweiError(
        huaweiCall(client, "POST", COMMAND, ids, { command: "CONFIRM_ACCEPT" }),
      );
      expect([error.httpStatusCode, error.errorCode]).toEqual([409, "MSS.10002002"]);
      expect(error.errorMsg).toContain("WAIT_FILE_UPLOAD");
      const submit = await huaweiError(
        huaweiCall(client, "POST", COMMAND, ids, { command: "SUBMITVERIFYING" }),
      );
      expect(submit.errorMsg).toMatch(/no complete training video/);
    });
  },
);
