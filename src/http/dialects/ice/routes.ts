import type { Static, TObject, TSchema } from "@sinclair/typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { DoppelError } from "../../../domain/errors.js";
import type { Caller } from "../../../services/caller.js";
import type { ServiceContext } from "../../../services/context.js";
import { getIceEventCallback, setIceEventCallback } from "../../../services/ice-callbacks.service.js";
import {
  createIceJob,
  deleteIceJob,
  getAvatar,
  getIceJob,
  listAvatars,
  listIceJobs,
  submitIceJob,
  updateIceJob,
} from "../../../services/ice-jobs.service.js";
import { createUploadMedia } from "../../../services/media.service.js";
import { finishAuthentication, startAuthentication } from "../../authentication.js";
import { iceRequestId } from "./envelope.js";
import { clientToken, parseJobInput, parseRpcCall, validateParams } from "./parse.js";
import {
  presentAvatar,
  presentAvatarListItem,
  presentEventCallback,
  presentListItem,
  presentTrainingJob,
} from "./presenter.js";
import {
  CreateAvatarTrainingJobParams,
  CreateUploadMediaData,
  CreateUploadMediaParams,
  GetAvatarData,
  GetAvatarParams,
  GetAvatarTrainingJobData,
  GetEventCallbackParams,
  GetEventCallbackResult,
  JobIdData,
  JobIdParams,
  ListAvatarsData,
  ListAvatarsParams,
  ListAvatarTrainingJobsData,
  ListAvatarTrainingJobsParams,
  SetEventCallbackParams,
  SetEventCallbackResult,
  UpdateAvatarTrainingJobParams,
} from "./schemas.js";

/**
 * How an action's result is answered: `data` — `{RequestId, Data: result, Success: true}`, as the
 * avatar actions answer; `flat` — `{RequestId, ...result}`, the result's fields beside RequestId, as
 * ICE's SetEventCallback and GetEventCallback answer (their result is an object schema).
 */
export type IceEnvelope = "data" | "flat";

/**
 * One RPC action: its parameters, its result, how the result is wrapped, and its handler, which parses
 * the parameters, calls one service function and presents the result — the route of an RPC API. The
 * schemas document the action (OpenAPI) as the MetaStudio routes' schemas document theirs.
 */
export interface IceAction {
  readonly params: TObject;
  /** Parameters the action cannot go without: optional in `params`, so a missing one is MissingParameter. */
  readonly required: readonly string[];
  /** The result: `Data` in the `data` envelope; for `flat`, an object whose fields sit beside RequestId. */
  readonly data: TSchema;
  readonly envelope: IceEnvelope;
  readonly run: (
    ctx: ServiceContext,
    caller: Caller,
    params: Record<string, string>,
    origin: string,
  ) => Promise<unknown>;
}

function action<P extends TObject, D extends TSchema>(
  params: P,
  required: ReadonlyArray<keyof Static<P> & string>,
  data: D,
  run: (ctx: ServiceContext, caller: Caller, p: Static<P>, origin: string) => Promise<Static<D>>,
  envelope: IceEnvelope = "data",
): IceAction {
  return {
    params,
    required,
    data,
    envelope,
    run: (ctx, caller, raw, origin) => run(ctx, caller, validateParams(params, required, raw), origin),
  };
}

const pageOf = (p: { PageNo: number; PageSize: number }) => ({
  offset: (p.PageNo - 1) * p.PageSize,
  limit: p.PageSize,
});

/** Every ICE action Doppel answers, by name. */
export const ICE_ACTIONS: Readonly<Record<string, IceAction>> = {
  ListAvatarTrainingJobs: action(
    ListAvatarTrainingJobsParams,
    [],
    ListAvatarTrainingJobsData,
    async (ctx, caller, p) => {
      const { count, jobs } = await listIceJobs(ctx, caller, { ...pageOf(p), status: p.Status });
      return {
        AvatarTrainingJobList: jobs.map(({ job, ice }) => presentListItem(job, ice)),
        TotalCount: count,
      };
    },
  ),

  CreateUploadMedia: action(
    CreateUploadMediaParams,
    ["MediaType"],
    CreateUploadMediaData,
    async (ctx, caller, p, origin) => {
      const media = await createUploadMedia(
        ctx,
        caller,
        { mediaType: p.MediaType ?? "video", fileName: p.FileName },
        origin,
      );
      return { MediaId: media.mediaId, UploadURL: media.uploadUrl };
    },
  ),

  CreateAvatarTrainingJob: action(
    CreateAvatarTrainingJobParams,
    ["AvatarName"],
    JobIdData,
    async (ctx, caller, p) => {
      const input = parseJobInput(p, "create");
      const token = clientToken(p.ClientToken);
      return {
        JobId: await createIceJob(ctx, caller, { ...input, name: input.name ?? "", clientToken: token }),
      };
    },
  ),

  UpdateAvatarTrainingJob: action(
    UpdateAvatarTrainingJobParams,
    ["JobId"],
    JobIdData,
    async (ctx, caller, p) => {
      const jobId = p.JobId ?? "";
      await updateIceJob(ctx, caller, jobId, parseJobInput(p, "update"));
      return { JobId: jobId };
    },
  ),

  SubmitAvatarTrainingJob: action(JobIdParams, ["JobId"], JobIdData, async (ctx, caller, p) => {
    const jobId = p.JobId ?? "";
    await submitIceJob(ctx, caller, jobId);
    return { JobId: jobId };
  }),

  GetAvatarTrainingJob: action(
    JobIdParams,
    ["JobId"],
    GetAvatarTrainingJobData,
    async (ctx, caller, p, origin) => {
      const { detail, videoMediaId, coverUrl } = await getIceJob(ctx, caller, p.JobId ?? "", origin);
      return { AvatarTrainingJob: presentTrainingJob(detail, videoMediaId, coverUrl) };
    },
  ),

  DeleteAvatarTrainingJob: action(JobIdParams, ["JobId"], JobIdData, async (ctx, caller, p) => {
    const jobId = p.JobId ?? "";
    await deleteIceJob(ctx, caller, jobId);
    return { JobId: jobId };
  }),

  GetAvatar: action(GetAvatarParams, ["AvatarId"], GetAvatarData, async (ctx, caller, p, origin) => ({
    Avatar: presentAvatar(await getAvatar(ctx, caller, p.AvatarId ?? "", origin)),
  })),

  ListAvatars: action(ListAvatarsParams, [], ListAvatarsData, async (ctx, caller, p, origin) => {
    const { count, avatars } = await listAvatars(
      ctx,
      caller,
      { ...pageOf(p), avatarType: p.AvatarType },
      origin,
    );
    return { AvatarList: avatars.map(presentAvatarListItem), TotalCount: count };
  }),

  SetEventCallback: action(
    SetEventCallbackParams,
    [],
    SetEventCallbackResult,
    async (ctx, caller, p) => {
      await setIceEventCallback(ctx, caller, {
        callbackType: p.CallbackType,
        callbackQueueName: p.CallbackQueueName,
        callbackUrl: p.CallbackURL,
        eventTypeList: p.EventTypeList,
        authSwitch: p.AuthSwitch,
        authKey: p.AuthKey,
      });
      return { Success: true as const };
    },
    "flat",
  ),

  GetEventCallback: action(
    GetEventCallbackParams,
    [],
    GetEventCallbackResult,
    async (ctx, caller) => presentEventCallback(await getIceEventCallback(ctx, caller)),
    "flat",
  ),
};

/** Alibaba Cloud ICE's RPC API on `/`: the action comes from `Action` or (signed ACS3 only) `x-acs-action`. */
export async function iceRoutes(app: FastifyInstance, opts: { ctx: ServiceContext }): Promise<void> {
  const { ctx } = opts;
  // Before the body is read: what the head alone can prove or refuse (see authentication.ts).
  app.addHook("onRequest", startAuthentication(ctx, "alibaba"));

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const principal = await finishAuthentication(request);
    const { actionName, params } = parseRpcCall(request, principal.scheme);
    const action = Object.hasOwn(ICE_ACTIONS, actionName) ? ICE_ACTIONS[actionName] : undefined;
    if (action === undefined) {
      throw new DoppelError(
        "API_NOT_FOUND",
        `Action ${JSON.stringify(actionName.slice(0, 64))} is not an ICE API that Doppel serves`,
      );
    }
    const result = await action.run(ctx, { principal }, params, `${request.protocol}://${request.host}`);
    const requestId = iceRequestId(request);
    return reply.send(
      action.envelope === "flat"
        ? { RequestId: requestId, ...(result as object) }
        : { RequestId: requestId, Data: result, Success: true },
    );
  };
  app.get("/", handler);
  app.post("/", handler);
}
