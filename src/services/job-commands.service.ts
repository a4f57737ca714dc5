import { Readable } from "node:stream";
import { BlobNotFoundError } from "../blobs/blob-store.js";
import { DoppelError } from "../domain/errors.js";
import type { TrainingCommand } from "../domain/job-commands.js";
import type { FileSlot } from "../domain/job-files.js";
import {
  MAY_CONFIRM,
  MAY_PAUSE,
  MAY_RESUME,
  MAY_SUBMIT,
  MAY_UPLOAD,
  requireState,
  type StateRule,
} from "../domain/job-rules.js";
import { canTransition, type JobState } from "../domain/states.js";
import {
  findJobById,
  findVersionedJob,
  type JobStatePatch,
  type VersionedJob,
} from "../store/job.repository.js";
import { listJobFiles } from "../store/job-file.repository.js";
import { moveJob } from "../store/job-transition.repository.js";
import type { Caller } from "./caller.js";
import type { ServiceContext } from "./context.js";
import { adoptDirectUploads } from "./direct-uploads.js";
import { newSlotFileKey, partKey, partNumberOf, recordJobFile, slotPartsPrefix } from "./job-blobs.js";
import { requireVersionedJob } from "./jobs.service.js";
import { acceptedContent } from "./uploads.service.js";

/** What a command reports besides success. */
export interface CommandResult {
  /** Parts uploaded so far, for the GET_*_MULTIPART_UPLOADED commands. */
  readonly multipartData?: ReadonlyArray<{ readonly partNumber: number; readonly etag: string }>;
}

/** Runs a user command on one of the caller's jobs. Every state change goes through the transition table. */
export async function runCommand(
  ctx: ServiceContext,
  caller: Caller,
  jobId: string,
  command: TrainingCommand,
  message?: string,
): Promise<CommandResult> {
  const current = await requireVersionedJob(ctx, caller, jobId);
  const { job } = current;
  switch (command) {
    case "GET_MULTIPART_UPLOADED":
      return { multipartData: await uploadedParts(ctx, job.id, "training-video") };
    case "GET_ACTION_VIDEO_MULTIPART_UPLOADED":
      return { multipartData: await uploadedParts(ctx, job.id, "action-video") };
    case "CONFIRM_MULTIPART_UPLOADED":
      await assembleParts(ctx, current, "training-video", command);
      return {};
    case "CONFIRM_ACTION_VIDEO_MULTIPART_UPLOADED":
      await assembleParts(ctx, current, "action-video", command);
      return {};
    case "SUBMITVERIFYING":
      await submitForVerification(ctx, current, {
        action: command,
        // MetaStudio's job has not reached "files uploaded" yet: a state it is not in.
        noVideo: new DoppelError(
          "INVALID_STATE",
          `Job ${job.id} has no complete training video yet: upload every part, then run CONFIRM_MULTIPART_UPLOADED before SUBMITVERIFYING`,
        ),
      });
      return {};
    case "CONFIRM_ACCEPT":
    case "CONFIRM_REJECT": {
      const to = command === "CONFIRM_ACCEPT" ? "JOB_FINISH" : "JOB_REJECT";
      await changeState(ctx, current, command, MAY_CONFIRM, () => ({ to }), message);
      return {};
    }
    case "CONFIRM_PENDING":
      await changeState(
        ctx,
        current,
        command,
        MAY_PAUSE,
        (from) => ({ to: "JOB_PENDING", patch: { pausedFrom: from } }),
        message,
      );
      return {};
    case "CONFIRM_ACTIVE":
      await changeState(
        ctx,
        current,
        command,
        MAY_RESUME,
        (_from, pausedFrom) => ({
          to: (pausedFrom ?? "MANUAL_VERIFYING") as JobState,
          patch: { pausedFrom: null },
        }),
        message,
      );
      return {};
  }
}

/**
 * Submits a job for automatic verification (first time, or again after a failed check): refused
 * (INVALID_STATE) outside MAY_SUBMIT before anything else is looked at, then (INVALID_FILE) until the
 * training video is complete and, when consent is required, the grant file is there. `wording` names
 * the dialect's action and is its refusal of a job without a video, which each cloud words its own way.
 */
export async function submitForVerification(
  ctx: ServiceContext,
  current: VersionedJob,
  wording: { readonly action: string; readonly noVideo: DoppelError },
): Promise<void> {
  requireState(current.job, MAY_SUBMIT, wording.action);
  const { job } = current;
  // Adopting a direct upload bumps the job's version: read it again only then.
  const adopted = await adoptDirectUploads(ctx, job.id, "strict");
  const latest = adopted ? await findVersionedJob(ctx.database.db, job.projectId, job.id) : current;
  if (!latest) throw new DoppelError("JOB_NOT_FOUND", `No job ${job.id}; it was deleted`);
  const files = await listJobFiles(ctx.database.db, job.id);
  if (!files.some((f) => f.slot === "training-video")) {
    throw wording.noVideo;
  }
  if (ctx.config.pipeline.consent === "required" && !files.some((f) => f.slot === "grant-file")) {
    throw new DoppelError(
      "INVALID_FILE",
      `Job ${job.id} has no consent: a likeness is trained only with the consent of the person filmed. Upload a video of them saying they agree (or a signed letter as PDF, JPEG or PNG) as the job's grant file — MetaStudio: grant_file_upload_url; ICE: ConsentMedia — and submit again`,
    );
  }
  // The history names MetaStudio's command whichever dialect submitted: one vocabulary for the log.
  await changeState(ctx, latest, "SUBMITVERIFYING", MAY_SUBMIT, () => ({ to: "AUTO_VERIFYING" }));
}

async function uploadedParts(ctx: ServiceContext, jobId: string, slot: FileSlot) {
  const blobs = await ctx.blobs.list(slotPartsPrefix(jobId, slot));
  return blobs
    .map((blob) => ({ partNumber: partNumberOf(blob.key), etag: blob.etag, size: blob.size }))
    .filter((p): p is { partNumber: number; etag: string; size: number } => p.partNumber !== undefined)
    .sort((a, b) => a.partNumber - b.partNumber);
}

/** Streams parts 1…n into one new file, in order, and records it with its size and sha256. */
async function assembleParts(
  ctx: ServiceContext,
  current: VersionedJob,
  slot: FileSlot,
  command: TrainingCommand,
): Promise<void> {
  requireState(current.job, MAY_UPLOAD, command);
  const { options } = current;
  const jobId = current.job.id;
  const expected =
    slot === "training-video" ? options.videoMultipartCount : options.actionVideoMultipartCount;
  const uploaded = await uploadedParts(ctx, jobId, slot);
  const present = new Set(uploaded.map((p) => p.partNumber));
  const missing = Array.from({ length: expected }, (_, i) => i + 1).filter((n) => !present.has(n));
  if (expected === 0 || missing.length > 0) {
    // Parts vanish when their job is deleted (row first, then its blobs): say the job is gone.
    if (!(await findJobById(ctx.database.db, jobId))) {
      throw new DoppelError("JOB_NOT_FOUND", `No job ${jobId}; it was deleted`);
    }
    throw new DoppelError(
      "INVALID_FILE",
      expected === 0
        ? `Job ${jobId} was created without ${slot} parts`
        : `Job ${jobId} is missing ${slot} part${missing.length > 1 ? "s" : ""} ${missing.join(", ")} of ${expected}`,
    );
  }
  // Parts uploaded through Doppel were checked on arrival; parts PUT straight to S3 are checked here.
  const oversized = uploaded.find((p) => p.partNumber <= expected && p.size > ctx.config.maxUploadBytes);
  if (oversized) {
    throw new DoppelError(
      "FILE_TOO_LARGE",
      `${slot} part ${oversized.partNumber} is ${oversized.size} bytes, larger than the limit of ${ctx.config.maxUploadBytes} bytes`,
    );
  }
  const blobs = ctx.blobs;
  async function* concatenated() {
    for (let part = 1; part <= expected; part++) yield* await blobs.get(partKey(jobId, slot, part));
  }
  // A new key: assembling over the file the job points to could change what a concurrent submission
  // is verified on. The record switches to it only if the job still takes files.
  const { stored, mime } = await (async () => {
    const { stream, mime } = await acceptedContent(slot, Readable.from(concatenated()));
    return { stored: await blobs.put(newSlotFileKey(jobId, slot), stream, { contentType: mime }), mime };
  })().catch(async (error: unknown) => {
    // A part vanished while it was read: the job was deleted meanwhile (its blobs are swept after its row).
    if (!(error instanceof BlobNotFoundError)) throw error;
    if (!(await findJobById(ctx.database.db, jobId)))
      throw new DoppelError("JOB_NOT_FOUND", `No job ${jobId}; it was deleted`);
    throw new DoppelError(
      "INVALID_FILE",
      `A ${slot} part of job ${jobId} disappeared while it was assembled; upload it again`,
    );
  });
  await recordJobFile(ctx, jobId, slot, stored, mime, {
    logType: command,
    description: `${expected} ${slot} part${expected > 1 ? "s" : ""} assembled: ${stored.size} bytes, sha256 ${stored.sha256}`,
  });
}

/**
 * Moves a job, as read, to the state `decide` picks if `rule` and the transition table allow it, with
 * optimistic concurrency: of two concurrent changes exactly one wins; the other gets CONFLICT.
 */
async function changeState(
  ctx: ServiceContext,
  current: VersionedJob,
  command: string,
  rule: StateRule,
  decide: (from: JobState, pausedFrom: string | null) => { to: JobState; patch?: Partial<JobStatePatch> },
  message?: string,
): Promise<void> {
  const { job, version, pausedFrom } = current;
  requireState(job, rule, command);
  const { to, patch } = decide(job.state, pausedFrom);
  if (!canTransition(job.state, to)) {
    throw new DoppelError("INVALID_STATE", `${command} cannot move job ${job.id} from ${job.state} to ${to}`);
  }
  const jobId = job.id;
  const now = ctx.now();
  await ctx.database.db.transaction().execute(async (trx) => {
    const moved = await moveJob(trx, {
      jobId,
      projectId: job.projectId,
      from: job.state,
      version,
      path: [to],
      log: {
        operateUser: "USER",
        logType: command,
        logDescription: message ? `${job.state} → ${to}: ${message}` : `${job.state} → ${to}`,
        errorCode: null,
        redoReasons: [],
      },
      ...(patch !== undefined && { patch }),
      policy: ctx.config.pipeline,
      now,
    });
    if (!moved) {
      throw new DoppelError(
        "CONFLICT",
        `Job ${jobId} was changed by another request at the same time; read it again and retry`,
      );
    }
  });
}
