/**
 * Asset downloads with the S3 blob store: each file's URL is S3's own presigned URL, the package
 * archive (no object in the bucket) Doppel's; every one of them serves the bytes the manifest lists.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishedJob, sha256 } from "../support/assets.js";
import { startS3Server, type TestS3Server } from "../support/s3-server.js";
import { startTestServer, type TestServer } from "../support/server.js";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Body = any;

describe("assets on the S3 blob store", () => {
  let s3: TestS3Server;
  let s: TestServer;
  beforeAll(async () => {
    s3 = await startS3Server();
    s = await startTestServer("sqlite", [0], s3.doppelEnv());
  });
  afterAll(async () => {
    await s?.close();
    await s3?.close();
  });

  it("lists S3 URLs for the package's files and Doppel's for the archive, each serving its bytes", async () => {
    const [project] = s.projects as [TestServer["projects"][number]];
    const { assetId, files } = await publishedJob(s.t.runtime, project.id, s.t.clock.now);
    const res = await fetch(`${s.baseUrl}/v1/${project.id}/digital-assets/${assetId}`, {
      headers: { "X-Auth-Token": project.token },
    });
    const asset = (await res.json()) as Body;
    for (const file of asset.files) {
      const fromDoppel = file.download_url.startsWith(s.baseUrl);
      expect(fromDoppel, file.file_name).toBe(file.asset_file_category === "MAIN");
      const download = await fetch(file.download_url);
      expect(download.status, file.file_name).toBe(200);
      const bytes = Buffer.from(await download.arrayBuffer());
      expect(bytes.length, file.file_name).toBe(file.file_size);
      if (file.file_sha256) expect(sha256(bytes), file.file_name).toBe(file.file_sha256);
    }
    expect(asset.files.length).toBe(Object.keys(files).length + 2);
  });
});
