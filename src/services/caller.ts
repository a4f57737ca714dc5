import type { Principal } from "../auth/signed-request.js";

/** Who is asking: the authenticated project, narrowed to one end user when `X-App-UserId` was sent. */
export interface Caller {
  readonly principal: Principal;
  readonly appUserId?: string | undefined;
}
