import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { verifyReportKey } from "../../domain/pipeline.js";
import type { FaceAnalyzer } from "../../media/faces.js";
import { runFfmpeg } from "../../media/ffmpeg.js";
import { sampleFrames } from "../../media/frames.js";
import { probeMedia } from "../../media/probe.js";
import { listJobFiles, upsertJobFile } from "../../store/job-file.repository.js";
import { StageFailure, type StageHandler } from "../stage.js";
import { buildFaceTrack, type FaceObservation } from "./face-track.js";
import { downloadRecordedFile, putJson, type RecordedFile, readJson, uploadFile } from "./stage-files.js";
import type { VerifyReport } from "./verify.stage.js";

/** The preprocessed training data of a job: what a trainer reads (see trainers/trainer.ts). */
export const PREPROCESSED_FILES = ["video.mp4", "audio.wav", "faces.json", "face.mp4", "cover.jpg"] as const;

/** Side of the square face video (`face.mp4`), in pixels. */
export const FACE_VIDEO_SIZE = 512;

export function preprocessedKey(jobId: string, file: (typeof PREPROCESSED_FILES)[number]): string {
  return `jobs/${jobId}/preprocess/${file}`;
}

/**
 * What preprocessing wrote, written after the files themselves: the training video it started from
 * and each file's size and sha256, so the train stage (and a remote trainer) can check that its inputs
 * are exactly these.
 */
export interface PreprocessedManifest {
  readonly source: { readonly sha256: string; readonly size: number };
  readonly files: Readonly<Record<(typeof PREPROCESSED_FILES)[number], { sha256: string; size: number }>>;
}

export function preprocessedManifestKey(jobId: string): string {
  return `jobs/${jobId}/preprocess/manifest.json`;
}

/** A preprocessed file as its manifest records it, for downloadRecordedFile. */
export function preprocessedFile(
  jobId: string,
  manifest: PreprocessedManifest,
  file: (typeof PREPROCESSED_FILES)[number],
): RecordedFile {
  return { blobKey: preprocessedKey(jobId, file), ...manifest.files[file] };
}

/** Output frame rate of the normalised video, as the trainers expect it. */
const FPS = 25;
/** Face detections along the video: about two a second, at most this many (each costs ~0.3 s). */
const MAX_TRACK_SAMPLES = 120;
/** Below this share of sampled frames with a face, the face cannot be followed. */
const MIN_TRACKED_SHARE = 0.8;

/**
 * TRAINING_DATA_PREPROCESSING: normalises the training video (25 fps H.264) and its sound (16 kHz mono
 * WAV), follows the face through the video (box and landmarks on every frame, smoothed), crops it
 * into a square face video, picks the
 * cover — the sharpest-facing frame — and stores all of it under the job's `preprocess/` keys, which a
 * repeated run overwrites with the same content.
 */
export function preprocessStage(analyzer: () => Promise<FaceAnalyzer>): StageHandler {
  return async (ctx, run) => {
    const files = await listJobFiles(ctx.database.db, run.job.id);
    const training = files.find((f) => f.slot === "training-video");
    if (!training) throw new StageFailure("DOPPEL.VIDEO_MISSING", "The job has no training video");
    // The video to train on must be the one verification checked (files cannot change after a job is
    // submitted; this says so out loud rather than trusting it).
    const report = await readJson<VerifyReport>(ctx.blobs, verifyReportKey(run.job.id));
    const verified = report?.files?.["training-video"];
    if (verified?.sha256 !== training.sha256) {
      throw new StageFailure(
        "DOPPEL.FILE_CHANGED",
        `The training video (sha256 ${training.sha256}) is not the one verification checked (${verified?.sha256 ?? "no verify report"})`,
        [
          "Doppel found a training video other than the verified one; ask the operator to check the blob store",
        ],
      );
    }
    const source = join(run.workDir, "training-video");
    await downloadRecordedFile(ctx.blobs, training, "training video", source, run.signal);
    const probe = await probeMedia(source, { signal: run.signal });
    if (!probe.video)
      throw new StageFailure("DOPPEL.VIDEO_UNREADABLE", "The training video has no video track");

    const video = join(run.workDir, "video.mp4");
    const audio = join(run.workDir, "audio.wav");
    const duration = probe.durationSeconds;
    await runFfmpeg(
      [
        "-i",
        source,
        ...(probe.audio ? [] : ["-f", "lavfi", "-t", String(duration), "-i", "anullsrc=r=16000:cl=mono"]),
        "-map",
        "0:v:0",
        "-vf",
        `fps=${FPS},scale=trunc(iw/2)*2:trunc(ih/2)*2`,
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "18",
        "-pix_fmt",
        "yuv420p",
        "-an",
        "-y",
        video,
        "-map",
        probe.audio ? "0:a:0" : "1:a:0",
        "-vn",
        "-ac",
        "1",
        "-ar",
        "16000",
        "-c:a",
        "pcm_s16le",
        "-y",
        audio,
      ],
      { signal: run.signal, onProgress: (seconds) => run.progress(0.4 * Math.min(1, seconds / duration)) },
    );
    const normalised = await probeMedia(video, { signal: run.signal });
    const v = normalised.video;
    if (!v) throw new Error("the normalised video has no video track");
    const frameCount = Math.max(1, Math.round(normalised.durationSeconds * FPS));

    const faces = await analyzer();
    const count = Math.min(MAX_TRACK_SAMPLES, Math.max(8, Math.round(normalised.durationSeconds * 2)));
    const observations: FaceObservation[] = [];
    let best: { timeSeconds: number; score: number } | undefined;
    let sampled = 0;
    for await (const frame of sampleFrames(video, {
      count,
      durationSeconds: normalised.durationSeconds,
      maxWidth: v.width,
      signal: run.signal,
    })) {
      sampled++;
      const [face] = await faces.detect(frame);
      run.progress(0.4 + (0.5 * sampled) / count);
      if (!face) continue;
      observations.push({
        timeSeconds: frame.timeSeconds,
        box: [face.box.x, face.box.y, face.box.width, face.box.height],
        landmarks: face.landmarks,
      });
      // The cover: a confident, large face looking straight into the camera.
      const frontality = 1 / (1 + Math.abs(face.yawDegrees) / 10 + Math.abs(face.pitchDegrees) / 15);
      const score = face.score * frontality * face.box.height;
      if (!best || score > best.score) best = { timeSeconds: frame.timeSeconds, score };
    }
    if (observations.length < MIN_TRACKED_SHARE * sampled || best === undefined) {
      throw new StageFailure(
        "DOPPEL.FACE_LOST",
        `The face was found on ${observations.length} of ${sampled} sampled frames`,
        ["Keep the face in view throughout the video, lit from the front, and submit it again"],
      );
    }
    const track = buildFaceTrack(observations, { fps: FPS, width: v.width, height: v.height, frameCount });
    await writeFile(join(run.workDir, "faces.json"), JSON.stringify(track));

    // The face crop as a video of its own: what a lip-sync trainer trains on.
    const { x, y, size } = track.crop;
    await runFfmpeg(
      [
        "-i",
        video,
        "-vf",
        `crop=${size}:${size}:${x}:${y},scale=${FACE_VIDEO_SIZE}:${FACE_VIDEO_SIZE}`,
        ...["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-an", "-y"],
        join(run.workDir, "face.mp4"),
      ],
      { signal: run.signal },
    );
    run.progress(0.95);

    const cover = join(run.workDir, "cover.jpg");
    await runFfmpeg(
      ["-ss", best.timeSeconds.toFixed(3), "-i", video, "-frames:v", "1", "-q:v", "2", "-y", cover],
      {
        signal: run.signal,
      },
    );
    const types = {
      "video.mp4": "video/mp4",
      "audio.wav": "audio/wav",
      "faces.json": "application/json",
      "face.mp4": "video/mp4",
      "cover.jpg": "image/jpeg",
    };
    const stored = await Promise.all(
      PREPROCESSED_FILES.map((file) =>
        uploadFile(ctx.blobs, preprocessedKey(run.job.id, file), join(run.workDir, file), types[file]),
      ),
    );
    const manifest: PreprocessedManifest = {
      source: { sha256: training.sha256, size: training.size },
      files: Object.fromEntries(
        PREPROCESSED_FILES.map((file, i) => [file, { sha256: stored[i]?.sha256, size: stored[i]?.size }]),
      ) as PreprocessedManifest["files"],
    };
    await putJson(ctx.blobs, preprocessedManifestKey(run.job.id), manifest);
    // The picked frame becomes the job's cover unless the user uploaded one.
    // The picked frame becomes the job's cover unless the user uploaded one. The job's file gets a
    // content-addressed key: a repeated (or stale, taken-over) run rewrites `cover.jpg`, but never the
    // bytes a recorded cover points to.
    const ownCover = `jobs/${run.job.id}/preprocess/`;
    const userCover = files.find((f) => f.slot === "cover" && !f.blobKey.startsWith(ownCover));
    const coverBlob = stored[PREPROCESSED_FILES.indexOf("cover.jpg")];
    if (!userCover && coverBlob) {
      const recorded = await uploadFile(
        ctx.blobs,
        `${ownCover}cover-${coverBlob.sha256}.jpg`,
        join(run.workDir, "cover.jpg"),
        "image/jpeg",
      );
      await upsertJobFile(ctx.database.db, run.job.id, {
        slot: "cover",
        blobKey: recorded.key,
        size: recorded.size,
        sha256: recorded.sha256,
        etag: recorded.etag,
        contentType: "image/jpeg",
        uploadTime: ctx.now(),
      });
    }
    run.progress(1);
    return {
      description: `Training data ready from the verified video (sha256 ${training.sha256}): ${v.width}×${v.height} at ${FPS} fps, ${frameCount} frames, 16 kHz mono audio; face found on ${observations.length} of ${sampled} sampled frames; cover at ${best.timeSeconds.toFixed(1)} s`,
    };
  };
}
