import { Type } from "@sinclair/typebox";
import { StringEnum } from "../schemas/string-enum.js";

const Worker = Type.String({
  minLength: 1,
  maxLength: 100,
  description: "The worker's name, the same in every call about one claim",
});

export const TaskParamsSchema = Type.Object({ task_id: Type.String({ maxLength: 64 }) });

export const ClaimBodySchema = Type.Object({ worker: Worker });

/** A claimed task: what to train from, where to put the package, how long the lease lasts. */
export const ClaimedTaskSchema = Type.Object(
  {
    task_id: Type.String(),
    job_id: Type.String(),
    stage: Type.String({ description: "The pipeline stage; remote workers are given train" }),
    claim: Type.Integer({ description: "Which claim of the task this is (1, 2, …); part of the file URLs" }),
    lease_seconds: Type.Number({ description: "Send a heartbeat before this much time has passed" }),
    inputs: Type.Record(Type.String(), Type.String(), {
      description: "Signed GET URL of each preprocessed input, by file name",
    }),
    input_sha256: Type.Record(Type.String(), Type.String(), {
      description: "The recorded sha256 of each input, by file name: check what you downloaded",
    }),
    output_url: Type.String({
      description: "Signed PUT URL of the package's files, with {path} in place of each file's path",
    }),
  },
  { title: "ClaimedTask" },
);

export const ClaimResponseSchema = Type.Object({
  task: Type.Union([Type.Null(), ClaimedTaskSchema], { description: "null when no task is due" }),
});

export const HeartbeatBodySchema = Type.Object({
  worker: Worker,
  progress: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: "How far along, 0 to 1" })),
});

export const LeaseResponseSchema = Type.Object({
  lease_seconds: Type.Number({ description: "The lease now lasts this long" }),
});

export const CompleteBodySchema = Type.Object({
  worker: Worker,
  description: Type.Optional(
    Type.String({ maxLength: 500, description: "Shown in the job's operation log" }),
  ),
});

export const CompletedResponseSchema = Type.Object({ status: Type.Literal("completed") });

export const FailBodySchema = Type.Object({
  worker: Worker,
  reason: Type.String({ maxLength: 1000 }),
  retry: Type.Optional(Type.Boolean({ description: "Whether another attempt could succeed" })),
});

export const FailedResponseSchema = Type.Object({
  status: StringEnum(["failed", "retrying"]),
  retry_in_seconds: Type.Optional(
    Type.Integer({ description: "When retrying: the task is due again after this" }),
  ),
});

const ClaimParams = {
  task_id: Type.String({ maxLength: 64 }),
  claim: Type.String({ pattern: "^[0-9]{1,9}$" }),
};

export const InputParamsSchema = Type.Object({ ...ClaimParams, name: Type.String({ maxLength: 64 }) });

/** `*` is the package-relative path of the file, slashes included (`{path}` in the claim's output_url). */
export const OutputParamsSchema = Type.Object({ ...ClaimParams, "*": Type.String() });

/** The signature of a signed URL; checked by the route itself so that a bad one is 403, not 400. */
export const SignedQuerySchema = Type.Object({
  expires: Type.Optional(Type.String({ maxLength: 16, description: "Unix seconds" })),
  signature: Type.Optional(Type.String({ maxLength: 128 })),
});
