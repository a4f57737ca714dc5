import type { TObject } from "@sinclair/typebox";
import { ICE_STATUS_STATES } from "../../../domain/ice-status.js";
import type { ServiceContext } from "../../../services/context.js";
import { type Caller, listJobs } from "../../../services/list-jobs.service.js";
import { presentListItem } from "./presenter.js";
import { ListAvatarTrainingJobsParams } from "./schemas.js";

/** One RPC action: its parameter schema and what it returns as `Data`. */
export interface IceAction<P = unknown> {
  readonly params: TObject;
  readonly run: (ctx: ServiceContext, caller: Caller, params: P) => Promise<unknown>;
}

function action<P>(params: TObject, run: IceAction<P>["run"]): IceAction {
  return { params, run: run as IceAction["run"] };
}

/** Every ICE action Doppel answers, by name. */
export const ICE_ACTIONS: Readonly<Record<string, IceAction>> = {
  ListAvatarTrainingJobs: action<ListAvatarTrainingJobsParams>(
    ListAvatarTrainingJobsParams,
    async (ctx, caller, p) => {
      // ICE documents no order; newest first is what its console shows.
      const result = await listJobs(ctx, caller, {
        offset: (p.PageNo - 1) * p.PageSize,
        limit: p.PageSize,
        sortKey: "create_time",
        sortDir: "desc",
        states: p.Status === undefined ? undefined : ICE_STATUS_STATES[p.Status],
      });
      return { AvatarTrainingJobList: result.jobs.map(presentListItem), TotalCount: result.count };
    },
  ),
};
