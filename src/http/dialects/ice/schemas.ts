import { type Static, Type } from "@sinclair/typebox";
import { ICE_STATUSES } from "../../../domain/ice-status.js";

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

/** One AvatarTrainingJob of ListAvatarTrainingJobs, field for field as the seed page shows it. */
export interface AvatarTrainingJobListItem {
  JobId: string;
  AvatarId: string;
  AvatarName: string;
  AvatarDescription: string;
  AvatarType: string;
  Status: string;
  Message: string;
  Portrait: string;
  FirstTrainingTime: string;
  LastTrainingTime: string;
  CreateTime: string;
}
