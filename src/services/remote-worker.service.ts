import type { Readable } from "node:stream";
import { isValidKey, RESERVED_PREFIX } from "../blobs/blob-key.js";
import { DoppelError, invalidParameter } from "../domain/errors.js";
import { isHexId } from "../domain/job.js";
import type { Stage } from "../domain/pipeline.js";
import { checkText } from "../domain/text.js";
import {
  PREPROCESSED_FILES,
  type PreprocessedManifest,
  preprocessedKey,
  preprocessedManifestKey,
} from "../pipeline/stages/preprocess.stage.js";
import { readJson } from "../pipeline/stages/stage-files.js";
import { trainedPackagePrefix } from "../pipeline/stages/train.stage.js";
import {
  applyFailure,
  applySuccess,
  applyTransientFailure,
  enterRunningState,
} from "../pipeline/task-lifecycle.js";
import { claimTask, findTask, renewLease, type TaskRecord } from "../store/task.repository.js";
import type { ServiceContext } from "./context.js";
import { putWithinLimit } from "./job-blobs.js";
import { signedUrl } from "./signed-urls.js";

/**
 * The worker protocol: a trainer anywhere (a GPU machine, any language) takes `train` tasks over HTTP.
 * It claims a task under a lease, keeps it with heartbeats, downloads the inputs and uploads the
 * package by signed URLs, then completes or fails the task. A remote worker is an owner like an
 * in-process one (`remote:<name>`), so leases, takeover and "apply once" work the same way.
 */

/** The stages a remote worker may take: training is what needs a GPU. */
export const REMOTE_STAGES: readonly Stage[] = ["train"];

/** How long input and output URLs of a claim stay valid. */
const URL_TTL_MS = 24 * 3600 * 1000;

export interface RemoteClaim {
  readonly task: TaskRecord;
  readonly leaseSeconds: number;
  /** Input file name → a signed GET URL. */
  readonly inputs: Readonly<Record<string, string>>;
  /**
   * Input file name → the sha256 preprocessing recorded for it (its manifest): a remote trainer checks
   * its downloads against these, as the in-process train stage does.
   */
  readonly inputSha256: Readonly<Record<string, string>>;
  /** A signed PUT URL with `{path}` in place of the package-relative file path. */
  readonly outputUrl: string;
}

function ownerOf(worker: string): string {
  const name = checkText("worker", worker, 100).trim();
  if (!/^[\w.@:-]{1,100}$/.test(name)) {
    throw invalidParameter("worker", "must be 1–100 letters, digits, and . _ - @ :");
  }
  return `remote:${name}`;
}

/** Where a claim's uploads wait until the claim completes (one prefix per claim: a dead claim's late uploads never mix in). */
function stagingPrefix(task: { readonly jobId: string; readonly id: string }, claim: number): string {
  return `jobs/${task.jobId}/train/claims/${task.id}-${claim}/`;
}

export function inputPath(taskId: string, claim: number, name: string): string {
  return `/worker/v1/tasks/${taskId}/${claim}/inputs/${name}`;
}

export function outputPathPattern(taskId: string, claim: number): string {
  return `/worker/v1/tasks/${taskId}/${claim}/outputs/*`;
}

/** Claims the next due training task for `worker`, or undefined when there is none. */
export async function claimRemoteTask(
  ctx: ServiceContext,
  worker: string,
  origin: string,
): Promise<RemoteClaim | undefined> {
  const owner = ownerOf(worker);
  const leaseMs = ctx.config.pipeline.leaseMs;
  for (;;) {
    const task = await claimTask(ctx.database.db, { stages: REMOTE_STAGES, owner, now: ctx.now(), leaseMs });
    if (!task) return undefined;
    // A stale task (its job moved on) is dropped by enterRunningState; look for the next.
    if (!(await enterRunningState(ctx, task, owner, leaseMs))) continue;
    const until = ctx.now() + URL_TTL_MS;
    const manifest = await readJson<PreprocessedManifest>(ctx.blobs, preprocessedManifestKey(task.jobId));
    const inputSha256 = Object.fromEntries(
      Object.entries(manifest?.files ?? {}).map(([name, file]) => [name, file.sha256]),
    );
    const inputs: Record<string, string> = {};
    for (const name of PREPROCESSED_FILES) {
      const key = preprocessedKey(task.jobId, name);
      inputs[name] = await signedUrl(
        ctx,
        "GET",
        key,
        inputPath(task.id, task.claims, name),
        origin,
        URL_TTL_MS,
      );
    }
    const signed = ctx.urls.sign("PUT", outputPathPattern(task.id, task.claims), until);
    const query = signed.slice(signed.indexOf("?"));
    return {
      task,
      leaseSeconds: leaseMs / 1000,
      inputs,
      inputSha256,
      outputUrl: `${origin}/worker/v1/tasks/${task.id}/${task.claims}/outputs/{path}${query}`,
    };
  }
}

/** The task if it is `owner`'s running task; CONFLICT (the lease was lost) otherwise. */
async function ownedTask(ctx: ServiceContext, taskId: string, owner: string): Promise<TaskRecord> {
  const task = isHexId(taskId) ? await findTask(ctx.database.db, taskId) : undefined;
  if (!task) throw new DoppelError("JOB_NOT_FOUND", `No task ${JSON.stringify(taskId.slice(0, 64))}`);
  if (task.state !== "running" || task.leaseOwner !== owner) {
    throw new DoppelError(
      "CONFLICT",
      `Task ${taskId} is no longer yours (its lease ran out and it was ${task.state === "running" ? "taken over" : task.state}); stop working on it`,
    );
  }
  return task;
}

/** Renews the lease and records progress; CONFLICT when the task is no longer `worker`'s. */
export async function heartbeatRemoteTask(
  ctx: ServiceContext,
  worker: string,
  taskId: string,
  progress: number | undefined,
): Promise<{ leaseSeconds: number }> {
  const owner = ownerOf(worker);
  await ownedTask(ctx, taskId, owner);
  const leaseMs = ctx.config.pipeline.leaseMs;
  const held = await renewLease(ctx.database.db, {
    taskId,
    owner,
    until: ctx.now() + leaseMs,
    now: ctx.now(),
    ...(progress !== undefined && { progress }),
  });
  if (!held) throw new DoppelError("CONFLICT", `Task ${taskId} is no longer yours; stop working on it`);
  return { leaseSeconds: leaseMs / 1000 };
}

/** A running task's claim, for signed input and output URLs (which name the claim they were made for). */
async function liveClaim(ctx: ServiceContext, taskId: string, claim: number): Promise<TaskRecord> {
  const task = isHexId(taskId) ? await findTask(ctx.database.db, taskId) : undefined;
  if (task?.state !== "running" || task.claims !== claim) {
    throw new DoppelError(
      "CONFLICT",
      `Claim ${claim} of task ${taskId.slice(0, 64)} is over; claim a task again`,
    );
  }
  return task;
}

/** An input file of a claimed task, as a stream. */
export async function openRemoteInput(
  ctx: ServiceContext,
  taskId: string,
  claim: number,
  name: string,
): Promise<Readable> {
  const task = await liveClaim(ctx, taskId, claim);
  const file = PREPROCESSED_FILES.find((f) => f === name);
  if (!file)
    throw new DoppelError(
      "JOB_NOT_FOUND",
      `No input ${JSON.stringify(name.slice(0, 64))}; inputs are ${PREPROCESSED_FILES.join(", ")}`,
    );
  return ctx.blobs.get(preprocessedKey(task.jobId, file));
}

/**
 * A package-relative path: `/`-separated names of letters, digits, `.`, `_`, `-`; no `.` or `..`, no
 * empty name (`a/`), and no name starting with `.doppel`, which the blob stores keep for themselves.
 */
export function checkOutputPath(path: string): string {
  const segments = path.split("/");
  const ok =
    path.length > 0 &&
    path.length <= 200 &&
    isValidKey(path) &&
    segments.every((s) => /^[\w.-]{1,100}$/.test(s));
  if (!ok) {
    throw invalidParameter(
      "path",
      `must be a relative path of letters, digits, . _ - separated by /, without empty, . or .. names or names starting with ${RESERVED_PREFIX} (at most 200 characters)`,
    );
  }
  return path;
}

/**
 * Refuses a path that would make one name both a file and a directory of the package (`a` and `a/b`):
 * blob stores hold both, but no file system can unpack them. (Two such uploads racing each other can
 * still both land; the package stage then fails the job with DOPPEL.PACKAGE_INVALID.)
 */
async function refuseClash(ctx: ServiceContext, staging: string, path: string): Promise<void> {
  const segments = path.split("/");
  for (let i = 1; i < segments.length; i++) {
    const directory = segments.slice(0, i).join("/");
    if (await ctx.blobs.head(`${staging}${directory}`)) {
      throw invalidParameter(
        "path",
        `${JSON.stringify(directory)} is already a file of this package, so it cannot be a directory`,
      );
    }
  }
  if ((await ctx.blobs.list(`${staging}${path}/`)).length > 0) {
    throw invalidParameter(
      "path",
      `${JSON.stringify(path)} is already a directory of this package, so it cannot be a file`,
    );
  }
}

/** Stores one output file of a claimed task. */
export async function receiveRemoteOutput(
  ctx: ServiceContext,
  taskId: string,
  claim: number,
  path: string,
  body: Readable,
): Promise<{ etag: string; size: number }> {
  const file = checkOutputPath(path);
  const task = await liveClaim(ctx, taskId, claim);
  const staging = stagingPrefix(task, claim);
  await refuseClash(ctx, staging, file);
  const stored = await putWithinLimit(ctx, `${staging}${file}`, body);
  return { etag: stored.etag, size: stored.size };
}

/**
 * Completes `worker`'s training task: its uploaded files become the job's trained package (replacing
 * an earlier attempt's) and the job moves on to packaging, which checks the package against its
 * manifest. CONFLICT if the task is no longer `worker`'s; INVALID_FILE if nothing was uploaded.
 */
export async function completeRemoteTask(
  ctx: ServiceContext,
  worker: string,
  taskId: string,
  description: string | undefined,
): Promise<void> {
  const owner = ownerOf(worker);
  const task = await ownedTask(ctx, taskId, owner);
  const staging = stagingPrefix(task, task.claims);
  const uploaded = await ctx.blobs.list(staging);
  if (uploaded.length === 0) {
    throw new DoppelError(
      "INVALID_FILE",
      `Task ${taskId} has no uploaded outputs; PUT the package's files to the output URL first`,
    );
  }
  const target = trainedPackagePrefix(task.jobId);
  await ctx.blobs.deletePrefix(target);
  for (const blob of uploaded) {
    await ctx.blobs.put(`${target}${blob.key.slice(staging.length)}`, await ctx.blobs.get(blob.key));
  }
  const note = description === undefined ? "" : `: ${checkText("description", description, 500)}`;
  const applied = await applySuccess(ctx, task, owner, {
    description: `Trained by remote worker ${owner.slice("remote:".length)}: ${uploaded.length} files${note}`,
  });
  await ctx.blobs.deletePrefix(staging);
  if (!applied)
    throw new DoppelError("CONFLICT", `Task ${taskId} is no longer yours; its result was not applied`);
}

/**
 * Fails `worker`'s training task: `retry` puts it back in the queue after a backoff (until the retry
 * limit), otherwise the job goes to TRAIN_FAILED with `reason`.
 */
export async function failRemoteTask(
  ctx: ServiceContext,
  worker: string,
  taskId: string,
  failure: { readonly reason: string; readonly retry: boolean },
): Promise<{ retryInSeconds?: number }> {
  const owner = ownerOf(worker);
  const task = await ownedTask(ctx, taskId, owner);
  const reason = checkText("reason", failure.reason, 1000).trim() || "the trainer failed without saying why";
  if (failure.retry) {
    const delay = await applyTransientFailure(ctx, task, owner, reason);
    return delay === undefined ? {} : { retryInSeconds: Math.ceil(delay / 1000) };
  }
  await applyFailure(ctx, task, owner, {
    errorCode: "DOPPEL.TRAINER_FAILED",
    message: `Training failed on ${owner.slice("remote:".length)}: ${reason}`,
    redoReasons: [reason],
  });
  return {};
}
