import type { Principal } from "../auth/signed-request.js";
import { DoppelError } from "../domain/errors.js";

/** Who is asking: the authenticated project, narrowed to one end user when `X-App-UserId` was sent. */
export interface Caller {
  readonly principal: Principal;
  readonly appUserId?: string | undefined;
}

/**
 * Refuses a caller narrowed to one end user (X-App-UserId) what spans the whole project: its events,
 * its webhooks.
 */
export function requireWholeProject(caller: Caller, what: string): void {
  if (caller.appUserId !== undefined) {
    throw new DoppelError(
      "FORBIDDEN",
      `X-App-UserId narrows this request to one end user, and ${what} span every end user of the project; send it without X-App-UserId (or ask for one job's events with job_id)`,
    );
  }
}
