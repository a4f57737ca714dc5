import { join } from "node:path";
import { verifyReportKey } from "../../domain/pipeline.js";
import { formatProblems, type VerifyPolicy } from "../../domain/verify-policy.js";
import {
  type DetectedFace,
  descriptorDistance,
  type FaceAnalyzer,
  type RgbImage,
} from "../../media/faces.js";
import { type RgbFrame, sampleFrames } from "../../media/frames.js";
import { MediaUnreadableError, probeMedia } from "../../media/probe.js";
import { listJobFiles } from "../../store/job-file.repository.js";
import { StageFailure, type StageHandler, type StageRun } from "../stage.js";
import { downloadRecordedFile, putJson } from "./stage-files.js";
import {
  boxWithin,
  type FaceBox,
  removeUnnamedImages,
  storeVerifyImages,
  type VerifyFrame,
  type VerifyImage,
} from "./verify-images.js";

/**
 * What verification found, kept with the job (`verifyReportKey`): the review queue shows it, and
 * preprocessing checks that the training video it is about to use is the one verified here.
 */
export interface VerifyReport {
  readonly policy: string;
  /** Every file the job had when it was checked, by slot: exactly these bytes were verified. */
  readonly files: Readonly<Record<string, { sha256: string; size: number; contentType: string }>>;
  readonly probe: unknown;
  readonly faces: { readonly samples: number; readonly singleFace: number };
  /**
   * The sampled frames of the training video, in time order, each kept as a JPEG beside the report
   * with the faces found on it. Absent from reports written before frames were kept.
   */
  readonly frames?: readonly VerifyFrame[];
  /**
   * Which consent path the job took: a consent `video` matched to the trained person (with the
   * distance of their faces), a `letter` (PDF or image) left to an operator, or `none` (only with
   * `--consent optional`). For a video in which a single face was seen: `frame`, the consent video's
   * most frontal single-face frame with that face's box, and `trainingFrame`, the index in `frames`
   * of the training video's, to show the two faces side by side.
   */
  readonly consent: {
    readonly path: ConsentPath;
    readonly contentType?: string;
    readonly distance?: number;
    readonly frame?: VerifyImage & { readonly box: FaceBox };
    readonly trainingFrame?: number;
  };
  readonly problems: readonly string[];
}

export type ConsentPath = "video" | "letter" | "none";

/** What the face checks saw on one sampled frame. */
export interface FaceSample {
  readonly frameHeight: number;
  readonly faces: readonly Pick<DetectedFace, "box" | "yawDegrees" | "descriptor">[];
}

export interface FaceFindings {
  readonly problems: string[];
  readonly singleFaceSamples: number;
  /** The mean descriptor of the single faces, for the consent check. */
  readonly descriptor: Float32Array | undefined;
}

/** Checks the faces on sampled frames against the policy: one person, large enough, facing the camera. */
export function faceFindings(samples: readonly FaceSample[], policy: VerifyPolicy): FaceFindings {
  const problems: string[] = [];
  const n = samples.length;
  const none = samples.filter((s) => s.faces.length === 0).length;
  const many = samples.filter((s) => s.faces.length > 1).length;
  const single = samples.filter((s) => s.faces.length === 1);
  if (n === 0 || single.length / n < policy.minSingleFaceShare) {
    const parts = [none > 0 && `${none} showed no face`, many > 0 && `${many} showed more than one`].filter(
      Boolean,
    );
    problems.push(
      `Only ${single.length} of ${n} sampled frames show exactly one face (${parts.join(", ") || "none could be read"}); film one person, alone, the face clearly visible and filling a good part of the frame throughout`,
    );
  }
  if (single.length > 0) {
    const shares = single.map((s) => (s.faces[0]?.box.height ?? 0) / s.frameHeight).sort((a, b) => a - b);
    const median = shares[Math.floor(shares.length / 2)] ?? 0;
    if (median < policy.minFaceHeightShare) {
      problems.push(
        `The face fills ${Math.round(median * 100)}% of the frame's height; come closer so it fills at least ${Math.round(policy.minFaceHeightShare * 100)}%`,
      );
    }
    const frontal = single.filter(
      (s) => Math.abs(s.faces[0]?.yawDegrees ?? 90) <= policy.maxYawDegrees,
    ).length;
    if (frontal / single.length < policy.minFrontalShare) {
      problems.push(
        `The face is turned away from the camera in ${single.length - frontal} of ${single.length} frames; look into the camera`,
      );
    }
  }
  return {
    problems,
    singleFaceSamples: single.length,
    descriptor: meanDescriptor(single.map((s) => s.faces[0]?.descriptor)),
  };
}

function meanDescriptor(descriptors: ReadonlyArray<Float32Array | undefined>): Float32Array | undefined {
  const present = descriptors.filter((d): d is Float32Array => d !== undefined);
  const first = present[0];
  if (!first) return undefined;
  const mean = new Float32Array(first.length);
  for (const d of present)
    for (let i = 0; i < d.length; i++) mean[i] = (mean[i] ?? 0) + (d[i] ?? 0) / present.length;
  return mean;
}

/**
 * AUTO_VERIFYING: probes the training video against the policy, samples frames for the face checks,
 * and matches the consent video's person to the training video's. Every problem found is reported at
 * once, each as a reason the user can act on, so one re-recording fixes them all.
 */
export function verifyStage(policy: VerifyPolicy, analyzer: () => Promise<FaceAnalyzer>): StageHandler {
  return async (ctx, run) => {
    const files = await listJobFiles(ctx.database.db, run.job.id);
    const training = files.find((f) => f.slot === "training-video");
    if (!training) {
      throw new StageFailure("DOPPEL.VIDEO_MISSING", "The job has no training video", [
        "Upload the training video and submit again",
      ]);
    }
    const videoFile = join(run.workDir, "training-video");
    await downloadRecordedFile(ctx.blobs, training, "training video", videoFile, run.signal);
    run.progress(0.05);

    const probe = await probeMedia(videoFile, { signal: run.signal }).catch((error: unknown) => {
      if (error instanceof MediaUnreadableError) {
        throw new StageFailure("DOPPEL.VIDEO_UNREADABLE", error.message, [
          `The training video cannot be read (${error.message}); upload an MP4 or MOV file straight from the camera`,
        ]);
      }
      throw error;
    });
    const problems = formatProblems(probe, policy);
    run.progress(0.1);

    const faces = await analyzer();
    const frames: RgbFrame[] = [];
    const samples: FaceSample[] = [];
    if (probe.video && probe.durationSeconds > 0) {
      for await (const frame of sampleFrames(videoFile, {
        count: policy.faceSamples,
        durationSeconds: probe.durationSeconds,
        signal: run.signal,
      })) {
        frames.push(frame);
        samples.push({ frameHeight: frame.height, faces: await faces.detect(frame) });
        run.progress(0.1 + (0.7 * samples.length) / policy.faceSamples);
      }
    }
    const found = faceFindings(samples, policy);
    problems.push(...found.problems);

    const consent = await checkConsent(ctx, run, files, faces, found.descriptor, policy);
    if (consent.problem) problems.push(consent.problem);
    run.progress(0.9);

    // The images first, then the report that names them: a report never names an image not yet stored.
    const images = await storeVerifyImages(ctx.blobs, run, [
      ...frames.map((image) => ({ stem: "frame" as const, image })),
      ...(consent.face ? [{ stem: "consent" as const, image: consent.face.image }] : []),
    ]);
    const trainingFrame = mostFrontalSingleFace(samples);
    const consentImage = consent.face && images[frames.length];
    const report: VerifyReport = {
      policy: policy.name,
      files: Object.fromEntries(
        files.map((f) => [f.slot, { sha256: f.sha256, size: f.size, contentType: f.contentType }]),
      ),
      probe,
      faces: { samples: samples.length, singleFace: found.singleFaceSamples },
      frames: frames.map((frame, i) => ({
        ...(images[i] as VerifyImage),
        timeSeconds: Math.round(frame.timeSeconds * 1000) / 1000,
        faces: (samples[i]?.faces ?? []).map((face) => ({
          box: boxWithin(face.box, frame),
          yawDegrees: Math.round(face.yawDegrees * 10) / 10,
        })),
      })),
      consent: {
        path: consent.path,
        ...(consent.contentType !== undefined && { contentType: consent.contentType }),
        ...(consent.distance !== undefined && { distance: consent.distance }),
        ...(consent.face && consentImage && { frame: { ...consentImage, box: consent.face.box } }),
        ...(consentImage && trainingFrame !== undefined && { trainingFrame }),
      },
      problems,
    };
    await putJson(ctx.blobs, verifyReportKey(run.job.id), report);
    await removeUnnamedImages(ctx.blobs, run.job.id, images);
    if (problems.length > 0) {
      throw new StageFailure(
        problems.length === 1 && consent.problem ? "DOPPEL.CONSENT_MISMATCH" : "DOPPEL.VIDEO_REJECTED",
        `Automatic checks failed (policy ${policy.name}): ${problems.join("; ")}`,
        problems,
      );
    }
    const v = probe.video;
    return {
      description: [
        `Checks passed (policy ${policy.name})`,
        v && `${v.width}×${v.height} ${v.codec} ${Math.round(v.fps * 100) / 100} fps`,
        `${Math.round(probe.durationSeconds * 10) / 10} s`,
        `one face in ${found.singleFaceSamples}/${samples.length} samples`,
        consent.distance !== undefined && `consent video matches (distance ${consent.distance.toFixed(2)})`,
        consent.path === "letter" && "consent letter left to an operator",
        consent.path === "none" && "no consent file (consent optional)",
      ]
        .filter(Boolean)
        .join(", "),
    };
  };
}

/** The index of the sample whose single face looks most directly into the camera, if any has one. */
function mostFrontalSingleFace(samples: readonly FaceSample[]): number | undefined {
  let best: number | undefined;
  for (const [i, sample] of samples.entries()) {
    const face = sample.faces.length === 1 ? sample.faces[0] : undefined;
    if (!face) continue;
    const current = best === undefined ? undefined : samples[best]?.faces[0];
    if (!current || Math.abs(face.yawDegrees) < Math.abs(current.yawDegrees)) best = i;
  }
  return best;
}

/** What the consent check found; `face` is the consent video's most frontal single-face frame. */
interface ConsentCheck {
  readonly path: ConsentPath;
  readonly contentType?: string;
  readonly problem?: string;
  readonly distance?: number;
  readonly face?: { readonly image: RgbImage; readonly box: FaceBox };
}

/**
 * The consent: a consent video (a grant file that is a video) must show the same person as the training
 * video; a letter (PDF, image) is for an operator to read; none is a problem unless consent is optional.
 */
async function checkConsent(
  ctx: Parameters<StageHandler>[0],
  run: StageRun,
  files: Awaited<ReturnType<typeof listJobFiles>>,
  faces: FaceAnalyzer,
  trainingDescriptor: Float32Array | undefined,
  policy: VerifyPolicy,
): Promise<ConsentCheck> {
  const grant = files.find((f) => f.slot === "grant-file");
  if (!grant) {
    return ctx.config.pipeline.consent === "optional"
      ? { path: "none" }
      : {
          path: "none",
          problem: "The job has no consent file; upload the person's consent and submit again",
        };
  }
  if (!grant.contentType.startsWith("video/")) return { path: "letter", contentType: grant.contentType };
  const path = "video" as const;
  const file = join(run.workDir, "consent-video");
  await downloadRecordedFile(ctx.blobs, grant, "consent video", file, run.signal);
  const probe = await probeMedia(file, { signal: run.signal }).catch(() => undefined);
  if (!probe?.video || probe.durationSeconds <= 0) {
    return { path, problem: "The consent video cannot be read; upload it again as MP4 or MOV" };
  }
  const frames: RgbFrame[] = [];
  const samples: FaceSample[] = [];
  for await (const frame of sampleFrames(file, {
    count: 6,
    durationSeconds: probe.durationSeconds,
    signal: run.signal,
  })) {
    frames.push(frame);
    samples.push({ frameHeight: frame.height, faces: await faces.detect(frame) });
  }
  const consent = meanDescriptor(
    samples.filter((s) => s.faces.length === 1).map((s) => s.faces[0]?.descriptor),
  );
  const shown = mostFrontalSingleFace(samples);
  const image = shown === undefined ? undefined : frames[shown];
  const box = shown === undefined ? undefined : samples[shown]?.faces[0]?.box;
  const face = image && box ? { face: { image, box: boxWithin(box, image) } } : {};
  if (!consent)
    return {
      path,
      problem:
        "No single face can be seen in the consent video; film the person speaking the consent, facing the camera",
    };
  if (!trainingDescriptor) return { path, ...face };
  const distance = descriptorDistance(consent, trainingDescriptor);
  if (distance > policy.maxConsentDistance) {
    return {
      path,
      distance,
      ...face,
      problem:
        "The person in the consent video is not the person in the training video; the consent must be given by the person filmed",
    };
  }
  return { path, distance, ...face };
}
