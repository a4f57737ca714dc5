import type { TObject } from "@sinclair/typebox";
import { DoppelError, invalidParameter } from "../../../domain/errors.js";
import { ICE_STATUS_STATES, type IceStatus, iceStatusOf } from "../../../domain/ice-status.js";
import type { Job } from "../../../domain/job.js";
import type { JobOptions } from "../../../domain/job-options.js";
import type { JobState } from "../../../domain/states.js";
import { checkText } from "../../../domain/text.js";
import type { Caller } from "../../../services/caller.js";
import type { ServiceContext } from "../../../services/context.js";
import { submitForVerification } from "../../../services/job-commands.service.js";
import {
  createJob,
  deleteJob,
  optionsOfJobs,
  requireJob,
  showJob,
  updateJob,
} from "../../../services/jobs.service.js";
import { listJobs } from "../../../services/list-jobs.service.js";
import {
  attachMedia,
  createUploadMedia,
  getAvatar,
  hasTrainingVideo,
  listAvatars,
  type MediaType,
  requireConsentMedia,
  requireReadyMedia,
  trainingVideoMediaId,
} from "../../../services/media.service.js";
import {
  type IceJobFields,
  iceFieldsOf,
  presentAvatar,
  presentAvatarListItem,
  presentListItem,
  presentTrainingJob,
} from "./presenter.js";
import {
  CreateAvatarTrainingJobParams,
  CreateUploadMediaParams,
  GetAvatarParams,
  JobIdParams,
  ListAvatarsParams,
  ListAvatarTrainingJobsParams,
  UpdateAvatarTrainingJobParams,
} from "./schemas.js";

/** What an action may need of the HTTP request besides its parameters. */
export interface IceRequestInfo {
  /** `http://host:port` as the client reached Doppel, to make signed paths into URLs. */
  readonly origin: string;
}

/** One RPC action: its parameter schema and what it returns as `Data`. */
export interface IceAction<P = unknown> {
  readonly params: TObject;
  readonly run: (
    ctx: ServiceContext,
    caller: Caller,
    params: P,
    request?: IceRequestInfo,
  ) => Promise<unknown>;
}

/**
 * An action whose `required` parameters must be present and non-empty. They are optional in the schema
 * and checked here, so that a missing one is answered with Alibaba's `MissingParameter` naming it.
 */
function action<P>(
  params: TObject,
  required: ReadonlyArray<keyof P & string>,
  run: IceAction<P>["run"],
): IceAction {
  return {
    params,
    run: (ctx, caller, values, request) => {
      const given = values as Record<string, unknown>;
      for (const name of required) {
        if (given[name] === undefined || given[name] === "") {
          throw new DoppelError("MISSING_PARAMETER", `Missing parameter ${name}: it is required`, name);
        }
      }
      return run(ctx, caller, values as P, request);
    },
  };
}

/** The MetaStudio states behind ICE's Init and Fail: where ICE lets a job be edited, submitted or deleted. */
const INIT_OR_FAIL: readonly JobState[] = [...ICE_STATUS_STATES.Init, ...ICE_STATUS_STATES.Fail];

/** Refuses (OperationDenied.JobStatus) unless the job is in ICE's Init or Fail, naming its status. */
function requireInitOrFail(job: Job, operation: string): void {
  const status: IceStatus = iceStatusOf(job.state);
  if (status !== "Init" && status !== "Fail") {
    throw new DoppelError(
      "INVALID_STATE",
      `Job ${job.id} is ${status} (state ${job.state}); ${operation} is allowed only when the job is Init or Fail`,
    );
  }
}

/**
 * The avatar name. ICE documents at most 7 characters (sized for Chinese names); Doppel accepts up to
 * 64, MetaStudio's limit for the same job's name, so a job named through either dialect shows in both.
 */
function avatarName(value: string): string {
  const name = checkText("AvatarName", value, 64).trim();
  if (name === "") throw invalidParameter("AvatarName", "must not be blank");
  return name;
}

function description(value: string | undefined): string | undefined {
  return value === undefined ? undefined : checkText("AvatarDescription", value, 1000);
}

/** ICE's Thumbnail: where the trained avatar's thumbnail goes, a URL of at most 512 characters. */
function thumbnail(value: string): string {
  checkText("Thumbnail", value, 512);
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw invalidParameter(
      "Thumbnail",
      `must be an http or https URL (got ${JSON.stringify(value.slice(0, 64))})`,
    );
  }
  return value;
}

function transparent(value: string | undefined): boolean | undefined {
  return value === undefined ? undefined : value.toLowerCase() === "true";
}

/** Alibaba's ClientToken: at most 64 printable ASCII characters. */
function clientToken(value: string | undefined): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^[\x21-\x7e]{1,64}$/.test(value)) {
    throw invalidParameter("ClientToken", "must be 1 to 64 printable ASCII characters without spaces");
  }
  return value;
}

/**
 * Fields the ICE job keeps in its options JSON. `createJob` and `updateJob` take `Partial<JobOptions>`
 * and persist the object as it is, so the ICE keys ride along (see IceJobFields).
 */
function asOptions(fields: IceJobFields): Partial<JobOptions> {
  return { ...fields } as Partial<JobOptions>;
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** Every ICE action Doppel answers, by name. */
export const ICE_ACTIONS: Readonly<Record<string, IceAction>> = {
  ListAvatarTrainingJobs: action<ListAvatarTrainingJobsParams>(
    ListAvatarTrainingJobsParams,
    [],
    async (ctx, caller, p) => {
      // ICE documents no order; newest first is what its console shows.
      const result = await listJobs(ctx, caller, {
        offset: (p.PageNo - 1) * p.PageSize,
        limit: p.PageSize,
        sortKey: "create_time",
        sortDir: "desc",
        states: p.Status === undefined ? undefined : ICE_STATUS_STATES[p.Status],
      });
      const options = await optionsOfJobs(ctx, result.jobs);
      return {
        AvatarTrainingJobList: result.jobs.map((job) => presentListItem(job, options.get(job.id))),
        TotalCount: result.count,
      };
    },
  ),

  CreateUploadMedia: action<CreateUploadMediaParams>(
    CreateUploadMediaParams,
    ["MediaType"],
    async (ctx, caller, p, request) => {
      const media = await createUploadMedia(
        ctx,
        caller,
        { mediaType: p.MediaType as MediaType, fileName: p.FileName },
        request?.origin ?? "",
      );
      return { MediaId: media.mediaId, UploadURL: media.uploadUrl };
    },
  ),

  CreateAvatarTrainingJob: action<CreateAvatarTrainingJobParams>(
    CreateAvatarTrainingJobParams,
    ["AvatarName"],
    async (ctx, caller, p) => {
      const name = avatarName(p.AvatarName as string);
      const token = clientToken(p.ClientToken);
      // Everything is checked before the job exists: a bad Video leaves no job behind.
      const video = p.Video ? await requireReadyMedia(ctx, caller, p.Video, "video", "Video") : undefined;
      const portrait = p.Portrait
        ? await requireReadyMedia(ctx, caller, p.Portrait, "image", "Portrait")
        : undefined;
      const consent = p.ConsentMedia ? await requireConsentMedia(ctx, caller, p.ConsentMedia) : undefined;
      const fields: IceJobFields = withoutUndefined({
        iceVideo: video?.id,
        icePortrait: portrait?.id,
        iceThumbnail: p.Thumbnail ? thumbnail(p.Thumbnail) : undefined,
        iceTransparent: transparent(p.Transparent),
      });
      const { job, options, created } = await createJob(ctx, caller, {
        name,
        description: description(p.AvatarDescription),
        avatarType: p.AvatarType,
        clientToken: token,
        options: asOptions(fields),
      });
      // A retried create (same ClientToken) finishes what the first attempt started: the job's own
      // video, not this request's, in case the first attempt stopped between the job and the copy.
      const videoId = created ? video?.id : iceFieldsOf(options).iceVideo;
      if (videoId !== undefined && INIT_OR_FAIL.includes(job.state)) {
        const media =
          video?.id === videoId ? video : await requireReadyMedia(ctx, caller, videoId, "video", "Video");
        await attachMedia(ctx, job.id, "training-video", media, INIT_OR_FAIL);
      }
      if (consent !== undefined && INIT_OR_FAIL.includes(job.state)) {
        await attachMedia(ctx, job.id, "grant-file", consent, INIT_OR_FAIL);
      }
      return { JobId: job.id };
    },
  ),

  UpdateAvatarTrainingJob: action<UpdateAvatarTrainingJobParams>(
    UpdateAvatarTrainingJobParams,
    ["JobId"],
    async (ctx, caller, p) => {
      const job = await requireJob(ctx, caller, p.JobId as string);
      requireInitOrFail(job, "UpdateAvatarTrainingJob");
      const name = p.AvatarName === undefined ? undefined : avatarName(p.AvatarName);
      for (const name of ["Video", "ConsentMedia"] as const) {
        if (p[name] === "") {
          throw invalidParameter(
            name,
            "cannot be cleared; pass the MediaId of another uploaded file to replace it",
          );
        }
      }
      const video =
        p.Video === undefined ? undefined : await requireReadyMedia(ctx, caller, p.Video, "video", "Video");
      const consent =
        p.ConsentMedia === undefined ? undefined : await requireConsentMedia(ctx, caller, p.ConsentMedia);
      // An empty Portrait or Thumbnail clears it.
      const portrait =
        p.Portrait === undefined || p.Portrait === ""
          ? p.Portrait
          : (await requireReadyMedia(ctx, caller, p.Portrait, "image", "Portrait")).id;
      const fields: IceJobFields = withoutUndefined({
        iceVideo: video?.id,
        icePortrait: portrait,
        iceThumbnail: p.Thumbnail === undefined || p.Thumbnail === "" ? p.Thumbnail : thumbnail(p.Thumbnail),
        iceTransparent: transparent(p.Transparent),
      });
      const text = description(p.AvatarDescription);
      // The video first: it is what training uses, and its copy is the step that can fail. Should the
      // edit below then lose a race, a retry finds the video attached and only edits.
      if (video !== undefined) await attachMedia(ctx, job.id, "training-video", video, INIT_OR_FAIL);
      if (consent !== undefined) await attachMedia(ctx, job.id, "grant-file", consent, INIT_OR_FAIL);
      await updateJob(
        ctx,
        caller,
        job.id,
        {
          name,
          description: text,
          avatarType: p.AvatarType,
          options: Object.keys(fields).length === 0 ? undefined : asOptions(fields),
        },
        INIT_OR_FAIL,
      );
      return { JobId: job.id };
    },
  ),

  SubmitAvatarTrainingJob: action<JobIdParams>(JobIdParams, ["JobId"], async (ctx, caller, p) => {
    const job = await requireJob(ctx, caller, p.JobId as string);
    requireInitOrFail(job, "SubmitAvatarTrainingJob");
    if (!(await hasTrainingVideo(ctx, job.id))) {
      throw new DoppelError(
        "INVALID_FILE",
        `Job ${job.id} has no training video yet: upload one with CreateUploadMedia and pass its MediaId as Video to CreateAvatarTrainingJob or UpdateAvatarTrainingJob`,
        "Video",
      );
    }
    await submitForVerification(ctx, caller, job.id);
    return { JobId: job.id };
  }),

  GetAvatarTrainingJob: action<JobIdParams>(JobIdParams, ["JobId"], async (ctx, caller, p) => {
    const detail = await showJob(ctx, caller, p.JobId as string);
    return {
      AvatarTrainingJob: presentTrainingJob(detail, await trainingVideoMediaId(ctx, detail.job.id)),
    };
  }),

  DeleteAvatarTrainingJob: action<JobIdParams>(JobIdParams, ["JobId"], async (ctx, caller, p) => {
    const job = await requireJob(ctx, caller, p.JobId as string);
    // ICE's rule, checked first: MetaStudio's delete list (deleteJob's) is wider.
    requireInitOrFail(job, "DeleteAvatarTrainingJob");
    await deleteJob(ctx, caller, job.id);
    return { JobId: job.id };
  }),

  GetAvatar: action<GetAvatarParams>(GetAvatarParams, ["AvatarId"], async (ctx, caller, p) => ({
    Avatar: presentAvatar(await getAvatar(ctx, caller, p.AvatarId as string)),
  })),

  ListAvatars: action<ListAvatarsParams>(ListAvatarsParams, [], async (ctx, caller, p) => {
    const result = await listAvatars(ctx, caller, {
      offset: (p.PageNo - 1) * p.PageSize,
      limit: p.PageSize,
      avatarType: p.AvatarType,
    });
    return { AvatarList: result.avatars.map(presentAvatarListItem), TotalCount: result.count };
  }),
};
