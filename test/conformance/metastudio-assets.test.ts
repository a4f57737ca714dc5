/**
 * MetaStudio's asset library (ListAssets, ShowAsset, UpdateDigitalAsset, DeleteAsset, RestoreAsset)
 * through the official Huawei SDK core against a listening server, on both databases. Field names,
 * defaults and error codes as docs/design/asset-apis.md §1 found them in Huawei's SDK models and pages.
 */
import fc from "fast-check";
import { extract } from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishedJob, sha256 } from "../support/assets.js";
import { ENGINES } from "../support/databases.js";
import {
  credentialsOf,
  type HcClient,
  huaweiCall,
  huaweiClient,
  huaweiError,
  METASTUDIO_JOBS,
} from "../support/sdk-clients.js";
import { startTestServer, type TestServer } from "../support/server.js";

const ASSETS = "/v1/{project_id}/digital-assets";

/** The files of a tar archive, by path. */
async function untar(archive: Buffer): Promise<Record<string, Buffer>> {
  const entries: Record<string, Buffer> = {};
  const reader = extract();
  reader.on("entry", (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: unknown) => chunks.push(c as Buffer));
    stream.on("end", () => {
      entries[header.name] = Buffer.concat(chunks);
      next();
    });
  });
  const done = new Promise<void>((resolve, reject) =>
    reader.on("finish", () => resolve()).on("error", reject),
  );
  reader.end(archive);
  await done;
  return entries;
}
const ASSET = `${ASSETS}/{asset_id}`;
// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Body = any;

describe.each(ENGINES)("MetaStudio assets through @huaweicloud/huaweicloud-sdk-core on %s", (engine) => {
  let s: TestServer;
  let client: HcClient;
  let other: HcClient;
  let project: TestServer["projects"][number];

  beforeAll(async () => {
    s = await startTestServer(engine, [0, 0]);
    const [first, second] = s.projects as [typeof project, typeof project];
    project = first;
    client = huaweiClient(s, credentialsOf(first.key));
    other = huaweiClient(s, credentialsOf(second.key));
  });
  afterAll(() => s?.close());

  const ids = () => ({ project_id: project.id });
  const publish = (name: string, at = s.t.clock.now) => publishedJob(s.t.runtime, project.id, at, name);

  it("shows a trained avatar's asset with every file, each downloadable and matching its checksum", async () => {
    const { jobId, assetId, files } = await publish("Anna");
    const shown = await huaweiCall<Body>(client, "GET", ASSET, { ...ids(), asset_id: assetId });
    expect(shown.status).toBe(200);
    expect(shown.requestId).toMatch(/^[0-9a-f]{32}$/);
    expect(shown.body).toMatchObject({
      project_id: project.id,
      asset_id: assetId,
      asset_name: "Anna",
      asset_type: "HUMAN_MODEL_2D",
      asset_state: "ACTIVED",
      tags: [],
      job_id: jobId,
      asset_extra_meta: { human_model_2d_meta: { model_resolution: "1080P", support_live: true } },
    });
    const byName = new Map(shown.body.files.map((f: Body) => [f.file_name, f]));
    expect(shown.body.files.map((f: Body) => f.asset_file_category).sort()).toEqual([
      "COVER",
      "MAIN",
      "OTHER",
      "OTHER",
      "SAMPLE",
    ]);
    for (const [name, bytes] of Object.entries(files)) {
      const file = byName.get(name.split("/").at(-1)) as Body;
      expect(file, name).toMatchObject({
        file_size: bytes.length,
        file_sha256: sha256(bytes),
        state: "CREATED",
      });
      const download = await fetch(file.download_url);
      expect(download.status, name).toBe(200);
      expect(sha256(Buffer.from(await download.arrayBuffer())), name).toBe(sha256(bytes));
    }
    // MAIN is the whole package as one tar archive: its size as listed, every entry as the manifest says.
    const main = shown.body.files.find((f: Body) => f.asset_file_category === "MAIN");
    const archive = Buffer.from(await (await fetch(main.download_url)).arrayBuffer());
    expect(archive.length).toBe(main.file_size);
    const entries = await untar(archive);
    expect(Object.keys(entries).sort()).toEqual(Object.keys(files).sort());
    for (const [path, bytes] of Object.entries(files))
      expect(sha256(entries[path] as Buffer), path).toBe(sha256(bytes));
    // The archive is the same bytes every time, so any byte range of it is a slice of the whole, and a
    // download cut anywhere resumes (If-Range on its ETag).
    const head = await fetch(main.download_url, { method: "HEAD" });
    expect([head.status, head.headers.get("content-length")]).toEqual([200, String(archive.length)]);
    const etag = head.headers.get("etag") as string;
    expect(etag).toMatch(/^"tar-[0-9a-f]{64}"$/);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: archive.length - 1 }),
        fc.integer({ min: 0, max: archive.length }),
        async (start, length) => {
          const end = Math.min(start + length, archive.length) - 1;
          const range = end < start ? `bytes=${start}-` : `bytes=${start}-${end}`;
          const res = await fetch(main.download_url, { headers: { range, "if-range": etag } });
          expect(res.status, range).toBe(206);
          const want = end < start ? archive.subarray(start) : archive.subarray(start, end + 1);
          expect(Buffer.from(await res.arrayBuffer()).equals(want), range).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
    // The job links to its asset.
    const job = await huaweiCall<Body>(client, "GET", `${METASTUDIO_JOBS}/{job_id}`, {
      ...ids(),
      job_id: jobId,
    });
    expect(job.body.asset_id).toBe(assetId);
  });

  it("lists assets with MetaStudio's filters, paging and order", async () => {
    const base = s.t.clock.now + 10_000_000;
    const made = [];
    for (const [i, name] of ["List One", "List Two", "Other"].entries()) {
      made.push(await publish(name, base + i * 1000));
    }
    const list = (query: Record<string, string | number>) =>
      huaweiCall<Body>(client, "GET", ASSETS, ids(), undefined, {}, query);
    const named = await list({ name: "List", sort_dir: "desc" });
    expect(named.body.count).toBe(2);
    expect(named.body.assets.map((a: Body) => a.asset_name)).toEqual(["List Two", "List One"]);
    expect(named.body.assets[0].files).toBeUndefined();
    const page = await list({ name: "List", limit: 1, offset: 1 });
    expect(page.body.assets.map((a: Body) => a.asset_name)).toEqual(["List Two"]);
    const since = new Date(base + 1000).toISOString().replace(/\.\d+Z$/, "Z");
    expect((await list({ start_time: since, name: "t" })).body.assets.map((a: Body) => a.asset_name)).toEqual(
      ["List Two", "Other"],
    );
    expect((await list({ asset_type: "VOICE_MODEL" })).body).toEqual({ count: 0, assets: [] });
    expect((await list({ asset_source: "SYSTEM" })).body).toEqual({ count: 0, assets: [] });
    expect((await list({ asset_id: made[2]?.assetId as string })).body.count).toBe(1);
    const bad = await huaweiError(list({ asset_state: "SLEEPING" }));
    expect([bad.httpStatusCode, bad.errorCode]).toEqual([400, "MSS.00000003"]);
  });

  it("renames, tags and deactivates an asset; the job keeps its name", async () => {
    const { jobId, assetId } = await publish("Before");
    const updated = await huaweiCall<Body>(
      client,
      "PUT",
      ASSET,
      { ...ids(), asset_id: assetId },
      {
        asset_name: "After",
        asset_description: "a description",
        tags: ["studio", "v1"],
        asset_state: "UNACTIVED",
      },
    );
    expect(updated.body).toMatchObject({
      asset_name: "After",
      asset_description: "a description",
      tags: ["studio", "v1"],
      asset_state: "UNACTIVED",
    });
    expect(updated.body.files.length).toBeGreaterThan(0);
    const job = await huaweiCall<Body>(client, "GET", `${METASTUDIO_JOBS}/{job_id}`, {
      ...ids(),
      job_id: jobId,
    });
    expect(job.body.name).toBe("Before");
    const tagged = await huaweiCall<Body>(client, "GET", ASSETS, ids(), undefined, {}, { tag: "stud" });
    expect(tagged.body.assets.map((a: Body) => a.asset_id)).toEqual([assetId]);
  });

  it("deletes into the recycle bin, restores, and deletes for good with mode=force", async () => {
    const { jobId, assetId } = await publish("Bin");
    const at = { ...ids(), asset_id: assetId };
    expect((await huaweiCall(client, "DELETE", ASSET, at)).status).toBe(200);
    expect((await huaweiCall<Body>(client, "GET", ASSET, at)).body.asset_state).toBe("DELETING");
    expect((await huaweiCall(client, "POST", `${ASSET}/restore`, at)).status).toBe(200);
    expect((await huaweiCall<Body>(client, "GET", ASSET, at)).body.asset_state).toBe("ACTIVED");
    expect((await huaweiCall(client, "DELETE", ASSET, at, undefined, {}, { mode: "force" })).status).toBe(
      200,
    );
    const gone = await huaweiError(huaweiCall(client, "GET", ASSET, at));
    expect([gone.httpStatusCode, gone.errorCode]).toEqual([400, "MSS.10001001"]);
    // The job keeps its history.
    const job = await huaweiCall<Body>(client, "GET", `${METASTUDIO_JOBS}/{job_id}`, {
      ...ids(),
      job_id: jobId,
    });
    expect(job.body.state).toBe("JOB_SUCCESS");
  });

  it("answers another project's or an unknown asset as not found, with MetaStudio's code", async () => {
    const { assetId } = await publish("Mine");
    for (const [who, id] of [
      [other, assetId],
      [client, "0".repeat(32)],
      [client, "not-an-id"],
    ] as const) {
      const project_id = who === other ? (s.projects[1]?.id as string) : project.id;
      const error = await huaweiError(huaweiCall(who, "GET", ASSET, { project_id, asset_id: id }));
      expect([error.httpStatusCode, error.errorCode]).toEqual([400, "MSS.10001001"]);
    }
  });
});
