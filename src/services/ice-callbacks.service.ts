import { DoppelError, invalidParameter } from "../domain/errors.js";
import { checkWebhookUrl } from "../pipeline/address-guard.js";
import { deleteEndpoint, insertEndpoint, listEndpoints } from "../store/webhook.repository.js";
import type { Caller } from "./caller.js";
import type { ServiceContext } from "./context.js";
import { newEndpoint } from "./webhooks.service.js";

/**
 * ICE's account-wide event callback (SetEventCallback / GetEventCallback), one per project here.
 * Parameters as ICE documents them (help.aliyun.com/zh/ims/developer-reference/api-ice-2020-11-09-seteventcallback).
 */
export interface IceCallbackSettings {
  readonly callbackType?: string | undefined;
  readonly callbackQueueName?: string | undefined;
  readonly callbackUrl?: string | undefined;
  readonly eventTypeList?: string | undefined;
  readonly authSwitch?: string | undefined;
  readonly authKey?: string | undefined;
}

/** The callback as GetEventCallback shows it; undefined fields are absent. */
export interface IceCallbackView {
  readonly callbackType?: "HTTP";
  readonly callbackUrl?: string;
  readonly eventTypeList?: string;
  readonly authSwitch?: "on" | "off";
  readonly authKey?: string;
}

const EVENT_NAME = /^[A-Za-z][A-Za-z0-9]{0,63}$/;
/** ICE: "up to 32 characters, with upper-case and lower-case letters and digits". */
const AUTH_KEY = /^(?=.*[a-z])(?=.*[A-Z])(?=.*[0-9])[A-Za-z0-9]{1,32}$/;

/** Sets (replaces) the project's ICE event callback. An empty EventTypeList turns callbacks off. */
export async function setIceEventCallback(
  ctx: ServiceContext,
  caller: Caller,
  settings: IceCallbackSettings,
): Promise<void> {
  const type = settings.callbackType ?? "HTTP";
  if (type === "MNS") {
    throw new DoppelError(
      "INVALID_PARAMETER",
      "CallbackType MNS is not available: Doppel runs on your own machines, where Alibaba Cloud's MNS queues do not exist. Use CallbackType HTTP with a CallbackURL (or Doppel's webhooks)",
    );
  }
  if (type !== "HTTP") throw invalidParameter("CallbackType", "must be HTTP or MNS");
  if (settings.callbackQueueName !== undefined && settings.callbackQueueName !== "") {
    throw invalidParameter("CallbackQueueName", "is for MNS callbacks, which Doppel does not offer");
  }
  const eventTypes = (settings.eventTypeList ?? "")
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  for (const name of eventTypes) {
    if (!EVENT_NAME.test(name))
      throw invalidParameter("EventTypeList", `${JSON.stringify(name.slice(0, 70))} is not an event type`);
  }
  const authSwitch = settings.authSwitch ?? "off";
  if (authSwitch !== "on" && authSwitch !== "off") throw invalidParameter("AuthSwitch", "must be on or off");
  const authKey = settings.authKey === "" ? undefined : settings.authKey;
  if (authKey !== undefined && !AUTH_KEY.test(authKey)) {
    throw invalidParameter(
      "AuthKey",
      "must be at most 32 characters with upper-case and lower-case letters and digits",
    );
  }
  if (authSwitch === "on" && authKey === undefined)
    throw invalidParameter("AuthKey", "is required when AuthSwitch is on");
  if (settings.callbackUrl === undefined || settings.callbackUrl === "") {
    throw new DoppelError("MISSING_PARAMETER", "CallbackURL is mandatory for CallbackType HTTP");
  }
  // ICE: "the callback URL cannot exceed 256 bytes".
  await checkWebhookUrl("CallbackURL", settings.callbackUrl, ctx.config.webhooks.allowedNetworks, 256);
  const projectId = caller.principal.projectId;
  const endpoint = await newEndpoint(ctx, {
    projectId,
    kind: "ice",
    // As given, not normalized: ICE's signature is over the callback URL the user set.
    url: settings.callbackUrl,
    description: null,
    eventTypes,
    secretSealed: authKey === undefined ? null : ctx.secrets.seal(authKey),
    authSwitch: authSwitch === "on",
  });
  // One callback per project: the new one replaces the old (and its undelivered callbacks).
  await ctx.database.db.transaction().execute(async (trx) => {
    for (const old of await listEndpoints(trx, projectId, "ice")) await deleteEndpoint(trx, old.id);
    await insertEndpoint(trx, endpoint);
  });
}

/** The project's ICE event callback as GetEventCallback answers it (nothing set: no fields). */
export async function getIceEventCallback(ctx: ServiceContext, caller: Caller): Promise<IceCallbackView> {
  const [endpoint] = await listEndpoints(ctx.database.db, caller.principal.projectId, "ice");
  if (endpoint === undefined) return {};
  return {
    callbackType: "HTTP",
    callbackUrl: endpoint.url,
    eventTypeList: endpoint.eventTypes.join(","),
    authSwitch: endpoint.authSwitch ? "on" : "off",
    ...(endpoint.secretSealed !== null && { authKey: ctx.secrets.open(endpoint.secretSealed) }),
  };
}
