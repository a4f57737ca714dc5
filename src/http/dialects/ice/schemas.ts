import { type Static, Type } from "@sinclair/typebox";
import { ICE_STATUSES } from "../../../domain/ice-status.js";
import { MEDIA_TYPES } from "../../../domain/job-files.js";

/** ICE API version this dialect speaks. */
export const ICE_VERSION = "2020-11-09";

export const ListAvatarTrainingJobsParams = Type.Object({
  PageNo: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 1, description: "an integer from 1" }),
  PageSize: Type.Integer({ minimum: 1, maximum: 100, default: 10, description: "an integer from 1 to 100" }),
  // A Union (not the Ajv-style enum) because ICE parameters are checked by TypeBox's own compiler.
  Status: Type.Optional(
    Type.Union(
      ICE_STATUSES.map((s) => Type.Literal(s)),
      { description: `one of ${ICE_STATUSES.join(", ")}` },
    ),
  ),
});
export type ListAvatarTrainingJobsParams = Static<typeof ListAvatarTrainingJobsParams>;

/*
 * The avatar-training actions. Parameters are strings on the wire (query or form body); those the
 * action requires are declared optional here and checked by the action itself, so that an absent one
 * is answered with Alibaba's `MissingParameter` rather than the validator's `InvalidParameter`. Text
 * lengths are checked in characters (code points) by the action, not by `maxLength` (UTF-16 units).
 */

const Text = (description: string) => Type.String({ description });
const OneOf = <T extends string>(values: readonly T[]) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    { description: `one of ${values.join(", ")}` },
  );

/** ICE avatar types Doppel trains. */
export const AVATAR_TYPES = ["2DAvatar"] as const;

/** Spellings of a boolean the Alibaba SDKs send (`true`), and the docs' example (`True`). */
export const BOOLEAN_SPELLINGS = ["true", "false", "True", "False", "TRUE", "FALSE"] as const;

const PageNo = Type.Integer({
  minimum: 1,
  maximum: 10_000_000,
  default: 1,
  description: "an integer from 1",
});
const PageSize = Type.Integer({
  minimum: 1,
  maximum: 100,
  default: 10,
  description: "an integer from 1 to 100",
});

/**
 * Doppel's minimal `CreateUploadMedia`. Alibaba's action of that name takes `FileInfo` JSON and answers
 * OSS upload credentials (`UploadAddress`, `UploadAuth`); Doppel stores files itself, so it takes
 * `MediaType` (`video` | `image` | `other` — ICE's FileInfo types; `other` is a PDF, required) and an
 * optional `FileName`, and answers `Data: {MediaId, UploadURL}`: PUT the file's bytes to `UploadURL`
 * (signed, valid 24 hours) and pass `MediaId` as `Video`, `Portrait` or `ConsentMedia`.
 */
export const CreateUploadMediaParams = Type.Object({
  MediaType: Type.Optional(OneOf(MEDIA_TYPES)),
  FileName: Type.Optional(Text("a file name of at most 255 characters")),
});
export type CreateUploadMediaParams = Static<typeof CreateUploadMediaParams>;

const avatarFields = {
  AvatarName: Type.Optional(Text("a name of at most 64 characters")),
  AvatarDescription: Type.Optional(Text("a description of at most 1000 characters")),
  AvatarType: Type.Optional(OneOf(AVATAR_TYPES)),
  Portrait: Type.Optional(Text("the MediaId of an uploaded image")),
  Thumbnail: Type.Optional(Text("an http(s) URL of at most 512 characters")),
  Transparent: Type.Optional(OneOf(BOOLEAN_SPELLINGS)),
  Video: Type.Optional(Text("the MediaId of an uploaded video")),
  /**
   * Doppel's addition: the person's consent, which a job needs to be submitted (`--consent required`) —
   * a video of them saying they agree, or a signed letter as an image or a PDF (MediaType `other`).
   */
  ConsentMedia: Type.Optional(Text("the MediaId of an uploaded consent video, image or PDF")),
};

export const CreateAvatarTrainingJobParams = Type.Object({
  ...avatarFields,
  /** Same token, same job (Doppel's addition; the MetaStudio dialect's X-Client-Token shares it). */
  ClientToken: Type.Optional(Text("at most 64 printable ASCII characters")),
});
export type CreateAvatarTrainingJobParams = Static<typeof CreateAvatarTrainingJobParams>;

export const UpdateAvatarTrainingJobParams = Type.Object({
  JobId: Type.Optional(Text("a job id")),
  ...avatarFields,
});
export type UpdateAvatarTrainingJobParams = Static<typeof UpdateAvatarTrainingJobParams>;

/** Submit, Get and Delete take just the job. */
export const JobIdParams = Type.Object({ JobId: Type.Optional(Text("a job id")) });
export type JobIdParams = Static<typeof JobIdParams>;

export const GetAvatarParams = Type.Object({ AvatarId: Type.Optional(Text("an avatar id")) });
export type GetAvatarParams = Static<typeof GetAvatarParams>;

export const ListAvatarsParams = Type.Object({
  AvatarType: Type.Optional(OneOf(AVATAR_TYPES)),
  PageNo,
  PageSize,
});
export type ListAvatarsParams = Static<typeof ListAvatarsParams>;

/*
 * Responses: what each action answers as `Data` (the envelope is `{RequestId, Data, Success}`). Times are
 * UTC `yyyy-MM-ddTHH:mm:ssZ`, empty while unknown; ICE shows every key, with "" for what is not there.
 */

const Time = Type.String({ description: "UTC time yyyy-MM-ddTHH:mm:ssZ, or empty" });
const Status = Type.Union(
  ICE_STATUSES.map((s) => Type.Literal(s)),
  { description: `one of ${ICE_STATUSES.join(", ")}` },
);

/** The fields every AvatarTrainingJob shows, in list and detail alike. */
const trainingJobFields = {
  JobId: Type.String(),
  AvatarId: Type.String(),
  AvatarName: Type.String(),
  AvatarDescription: Type.String(),
  AvatarType: Type.String(),
  Status,
  Message: Type.String(),
  Portrait: Type.String({ description: "MediaId of the portrait image" }),
  FirstTrainingTime: Time,
  LastTrainingTime: Time,
};

/** One AvatarTrainingJob of ListAvatarTrainingJobs, field for field as the seed page shows it. */
export const AvatarTrainingJobListItem = Type.Object(
  { ...trainingJobFields, CreateTime: Time },
  { additionalProperties: false },
);
export type AvatarTrainingJobListItem = Static<typeof AvatarTrainingJobListItem>;

export const ListAvatarTrainingJobsData = Type.Object(
  { AvatarTrainingJobList: Type.Array(AvatarTrainingJobListItem), TotalCount: Type.Integer() },
  { additionalProperties: false },
);

export const CreateUploadMediaData = Type.Object(
  {
    MediaId: Type.String(),
    UploadURL: Type.String({ description: "signed URL to PUT the file's bytes to, valid 24 hours" }),
  },
  { additionalProperties: false },
);

/** Create, Update, Submit and Delete answer with the job's id. */
export const JobIdData = Type.Object({ JobId: Type.String() }, { additionalProperties: false });

/** GetAvatarTrainingJob's AvatarTrainingJob, field for field as the ICE SDK models it. */
export const AvatarTrainingJobDetail = Type.Object(
  {
    ...trainingJobFields,
    Thumbnail: Type.String(),
    Video: Type.String({ description: "MediaId the training video was copied from, or empty" }),
    Transparent: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type AvatarTrainingJobDetail = Static<typeof AvatarTrainingJobDetail>;

export const GetAvatarTrainingJobData = Type.Object(
  { AvatarTrainingJob: AvatarTrainingJobDetail },
  { additionalProperties: false },
);

const avatarListItemFields = {
  AvatarId: Type.String(),
  AvatarName: Type.String(),
  AvatarDescription: Type.String(),
  AvatarType: Type.String(),
  Portrait: Type.String(),
  Thumbnail: Type.String(),
  Transparent: Type.Boolean(),
};

/** One of ListAvatars' AvatarList, as the ICE SDK models it. */
export const AvatarListItem = Type.Object(avatarListItemFields, { additionalProperties: false });
export type AvatarListItem = Static<typeof AvatarListItem>;

/** GetAvatar's Avatar: a list item plus the size of the avatar's frames in pixels. */
export const AvatarDetail = Type.Object(
  { ...avatarListItemFields, Width: Type.Integer(), Height: Type.Integer() },
  { additionalProperties: false },
);
export type AvatarDetail = Static<typeof AvatarDetail>;

export const GetAvatarData = Type.Object({ Avatar: AvatarDetail }, { additionalProperties: false });

export const ListAvatarsData = Type.Object(
  { AvatarList: Type.Array(AvatarListItem), TotalCount: Type.Integer() },
  { additionalProperties: false },
);

/*
 * ICE's event callback (help.aliyun.com/zh/ims/developer-reference/api-ice-2020-11-09-seteventcallback
 * and …-geteventcallback). Unlike the avatar actions these answer top-level fields, as ICE does: no
 * `Data` wrapper. Values are checked by the service (setIceEventCallback), which answers MNS with why
 * it is not offered; the schemas name ICE's parameters and document them.
 */

export const SetEventCallbackParams = Type.Object({
  CallbackType: Type.Optional(Text("HTTP (the default); MNS is refused: Doppel has no MNS queues")),
  CallbackQueueName: Type.Optional(Text("an MNS queue (ice-callback-…); refused, as MNS is")),
  CallbackURL: Type.Optional(Text("the http or https URL to POST callbacks to, at most 256 bytes")),
  EventTypeList: Type.Optional(
    Text("event types, comma-separated, e.g. AvatarTrainingComplete; empty turns callbacks off"),
  ),
  AuthSwitch: Type.Optional(Text("on or off (the default): sign callbacks with AuthKey")),
  AuthKey: Type.Optional(Text("at most 32 letters and digits, with upper case, lower case and a digit")),
});
export type SetEventCallbackParams = Static<typeof SetEventCallbackParams>;

/** GetEventCallback takes no parameters. */
export const GetEventCallbackParams = Type.Object({});
export type GetEventCallbackParams = Static<typeof GetEventCallbackParams>;

/** SetEventCallback's answer besides RequestId. */
export const SetEventCallbackResult = Type.Object(
  { Success: Type.Literal(true, { description: "the callback was set" }) },
  { additionalProperties: false },
);

/**
 * GetEventCallback's answer besides RequestId: the callback as set, each field absent while none is
 * set. CallbackQueueName is ICE's field for MNS, which Doppel never has, so it is never sent.
 */
export const GetEventCallbackResult = Type.Object(
  {
    CallbackType: Type.Optional(Type.Literal("HTTP")),
    CallbackQueueName: Type.Optional(Type.String({ description: "never sent: Doppel has no MNS queues" })),
    CallbackURL: Type.Optional(Type.String()),
    EventTypeList: Type.Optional(Type.String({ description: "event types, comma-separated" })),
    AuthSwitch: Type.Optional(OneOf(["on", "off"] as const)),
    AuthKey: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
