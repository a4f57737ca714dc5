/**
 * The verify stage on real generated clips with the real face models: the sampled frames it keeps as
 * JPEG blobs beside its report (each decodable, of the size the report gives, its face boxes inside
 * it), the consent video's frame with its single face (a letter has none), the frames of a video that
 * fails its checks, and a repeated run that never changes the bytes under a key.
 */
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_JOB_OPTIONS } from "../../src/domain/job-options.js";
import { verifyReportKey } from "../../src/domain/pipeline.js";
import { BUILT_IN_POLICIES } from "../../src/domain/verify-policy.js";
import { type FaceAnalyzer, openFaceAnalyzer } from "../../src/media/faces.js";
import { StageFailure } from "../../src/pipeline/stage.js";
import { readJson } from "../../src/pipeline/stages/stage-files.js";
import { type VerifyReport, verifyStage } from "../../src/pipeline/stages/verify.stage.js";
import type { VerifyImage } from "../../src/pipeline/stages/verify-images.js";
import { createProject } from "../../src/services/admin.service.js";
import { insertJob } from "../../src/store/job.repository.js";
import { upsertJobFile } from "../../src/store/job-file.repository.js";
import { type Clips, ensureClips } from "../support/clips.js";
import { openTestRuntime, type TestRuntime } from "../support/databases.js";
import { jpegSize } from "../support/jpeg.js";
import { newJobRow, stageRunOf } from "../support/pipeline.js";

const POLICY = BUILT_IN_POLICIES.dev as (typeof BUILT_IN_POLICIES)[string];
/** A minimal PDF: what a signed consent letter sniffs as. */
const PDF = Buffer.from("%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n");

describe("the verify stage keeps its frames", () => {
  let t: TestRuntime;
  let clips: Clips;
  let faces: FaceAnalyzer;
  let workDir: string;
  let projectId: string;

  beforeAll(async () => {
    t = await openTestRuntime("sqlite");
    projectId = (await createProject(t.runtime, "verify")).id;
    clips = await ensureClips();
    faces = await openFaceAnalyzer();
    workDir = await mkdtemp(join(tmpdir(), "doppel-verify-"));
  }, 120_000);
  afterAll(async () => {
    await faces?.close();
    await t?.dispose();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  const blobBytes = async (key: string): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const chunk of await t.runtime.blobs.get(key)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };

  /** A job whose training video (and grant file, when given) are recorded files. */
  async function jobWith(video: string, grant?: { bytes: Buffer; contentType: string }): Promise<string> {
    const job = newJobRow(projectId, t.clock.now, { state: "AUTO_VERIFYING" });
    await insertJob(t.runtime.database.db, job, { options: DEFAULT_JOB_OPTIONS, clientToken: null });
    const record = async (slot: "training-video" | "grant-file", bytes: Buffer, contentType: string) => {
      const stored = await t.runtime.blobs.put(`jobs/${job.id}/${slot}/files/a`, Readable.from([bytes]));
      await upsertJobFile(t.runtime.database.db, job.id, {
        slot,
        blobKey: stored.key,
        size: stored.size,
        sha256: stored.sha256,
        etag: stored.etag,
        contentType,
        uploadTime: t.clock.now,
      });
    };
    await record("training-video", await readFile(video), "video/mp4");
    if (grant) await record("grant-file", grant.bytes, grant.contentType);
    return job.id;
  }

  /** Runs the stage; answers with its report and what it threw, if anything. */
  async function verify(jobId: string): Promise<{ report: VerifyReport; failure?: unknown }> {
    const run = stageRunOf(newJobRow(projectId, t.clock.now, { id: jobId }), workDir);
    const failure = await verifyStage(POLICY, async () => faces)(t.runtime, run).then(
      () => undefined,
      (error: unknown) => error,
    );
    const report = await readJson<VerifyReport>(t.runtime.blobs, verifyReportKey(jobId));
    if (!report) throw new Error("the stage wrote no report");
    return { report, ...(failure !== undefined && { failure }) };
  }

  /** The image is stored under the job's verify prefix with exactly the bytes and size the report gives. */
  async function expectStored(jobId: string, image: VerifyImage): Promise<void> {
    expect(image.name).toMatch(/^[a-z]+-[0-9a-f]{64}\.jpg$/);
    const bytes = await blobBytes(`jobs/${jobId}/verify/${image.name}`);
    expect(bytes.length).toBe(image.size);
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(image.sha256);
    expect(image.name).toContain(image.sha256);
    expect(jpegSize(bytes)).toEqual({ width: image.width, height: image.height });
  }

  function expectInside(
    box: { x: number; y: number; width: number; height: number },
    image: { width: number; height: number },
  ): void {
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.y).toBeGreaterThanOrEqual(0);
    expect(box.width).toBeGreaterThan(0);
    expect(box.height).toBeGreaterThan(0);
    expect(box.x + box.width).toBeLessThanOrEqual(image.width);
    expect(box.y + box.height).toBeLessThanOrEqual(image.height);
  }

  it("stores every sampled frame as a JPEG with its face box, and the consent video's face", async () => {
    const jobId = await jobWith(clips.personA, {
      bytes: await readFile(clips.personAConsent),
      contentType: "video/mp4",
    });
    const { report, failure } = await verify(jobId);
    expect(failure).toBeUndefined();
    expect(report.problems).toEqual([]);
    expect(report.faces).toEqual({ samples: POLICY.faceSamples, singleFace: POLICY.faceSamples });
    expect(report.frames).toHaveLength(POLICY.faceSamples);
    const times = report.frames?.map((f) => f.timeSeconds) ?? [];
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    for (const frame of report.frames ?? []) {
      await expectStored(jobId, frame);
      // The clip is 360x640 portrait; samples are at most 640 wide, so it keeps its size.
      expect([frame.width, frame.height]).toEqual([360, 640]);
      expect(frame.faces).toHaveLength(1);
      const [face] = frame.faces;
      expectInside(face?.box ?? { x: -1, y: -1, width: 0, height: 0 }, frame);
      // A face of a real person, not a speck: the clip's face fills a good part of the frame.
      expect(face?.box.height).toBeGreaterThan(frame.height * 0.1);
      expect(Math.abs(face?.yawDegrees ?? 90)).toBeLessThan(45);
    }

    const consent = report.consent;
    expect(consent.path).toBe("video");
    expect(consent.distance).toBeLessThan(POLICY.maxConsentDistance);
    const frame = consent.frame;
    if (!frame) throw new Error("no consent frame");
    await expectStored(jobId, frame);
    expect(frame.name).toMatch(/^consent-/);
    expectInside(frame.box, frame);
    const shown = report.frames?.[consent.trainingFrame ?? -1];
    expect(shown?.faces).toHaveLength(1);

    // Nothing else lies under the verify prefix: the report and the images it names.
    const keys = (await t.runtime.blobs.list(`jobs/${jobId}/verify/`)).map((b) => b.key).sort();
    const named = new Set([...(report.frames ?? []).map((f) => f.name), frame.name, "report.json"]);
    expect(keys).toEqual([...named].map((name) => `jobs/${jobId}/verify/${name}`).sort());
  }, 120_000);

  it("keeps no consent frame for a letter, and still keeps the training frames", async () => {
    const jobId = await jobWith(clips.personA, { bytes: PDF, contentType: "application/pdf" });
    const { report } = await verify(jobId);
    expect(report.consent).toEqual({ path: "letter", contentType: "application/pdf" });
    expect(report.frames).toHaveLength(POLICY.faceSamples);
    for (const frame of report.frames ?? []) await expectStored(jobId, frame);
  }, 120_000);

  it("keeps the frames of a video that fails its checks, so the user can see why", async () => {
    const jobId = await jobWith(clips.noFace, {
      bytes: await readFile(clips.personAConsent),
      contentType: "video/mp4",
    });
    const { report, failure } = await verify(jobId);
    expect(failure).toBeInstanceOf(StageFailure);
    expect(report.frames).toHaveLength(POLICY.faceSamples);
    for (const frame of report.frames ?? []) {
      await expectStored(jobId, frame);
      expect(frame.faces).toEqual([]);
    }
    // The consent video shows a face; there is no training face to show beside it.
    expect(report.consent.frame).toBeDefined();
    expect(report.consent.trainingFrame).toBeUndefined();
  }, 120_000);

  it("run again, changes no key's bytes and leaves only the frames its report names", async () => {
    const jobId = await jobWith(clips.personA, {
      bytes: await readFile(clips.personAConsent),
      contentType: "video/mp4",
    });
    const first = await verify(jobId);
    const before = new Map<string, string>();
    for (const blob of await t.runtime.blobs.list(`jobs/${jobId}/verify/`)) {
      if (blob.key.endsWith("/report.json")) continue;
      before.set(
        blob.key,
        createHash("sha256")
          .update(await blobBytes(blob.key))
          .digest("hex"),
      );
    }
    // What an earlier run of another video left: gone once the new report names its own frames.
    const stale = `jobs/${jobId}/verify/frame-${"0".repeat(64)}.jpg`;
    await t.runtime.blobs.put(stale, Readable.from([Buffer.from("stale")]));

    const second = await verify(jobId);
    expect(second.report.frames?.map((f) => f.name)).toEqual(first.report.frames?.map((f) => f.name));
    expect(second.report.consent.frame?.name).toBe(first.report.consent.frame?.name);
    for (const [key, sha256] of before) {
      const now = await t.runtime.blobs.head(key);
      if (now)
        expect(
          createHash("sha256")
            .update(await blobBytes(key))
            .digest("hex"),
        ).toBe(sha256);
    }
    for (const frame of second.report.frames ?? []) await expectStored(jobId, frame);
    expect(await t.runtime.blobs.head(stale)).toBeUndefined();
  }, 120_000);
});
