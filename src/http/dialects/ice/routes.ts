import type { TObject } from "@sinclair/typebox";
import { type TypeCheck, TypeCompiler } from "@sinclair/typebox/compiler";
import { Value } from "@sinclair/typebox/value";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { DoppelError, invalidParameter } from "../../../domain/errors.js";
import type { ServiceContext } from "../../../services/context.js";
import { finishAuthentication, startAuthentication } from "../../authentication.js";
import { strictIntegers } from "../../schemas/strict-integers.js";
import { ICE_ACTIONS } from "./actions.js";
import { iceRequestId } from "./envelope.js";
import { ICE_VERSION } from "./schemas.js";

const compiled = new Map<TObject, TypeCheck<TObject>>(
  Object.values(ICE_ACTIONS).map((a) => [a.params, TypeCompiler.Compile(a.params)]),
);

/** Alibaba Cloud ICE's RPC API on `/`: the action comes from `Action` or (signed ACS3 only) `x-acs-action`. */
export async function iceRoutes(app: FastifyInstance, opts: { ctx: ServiceContext }): Promise<void> {
  const { ctx } = opts;
  // Before the body is read: what the head alone can prove or refuse (see authentication.ts).
  app.addHook("onRequest", startAuthentication(ctx, "alibaba"));

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const principal = await finishAuthentication(request);
    const params = rpcParams(request);
    // HMAC-SHA1 signs only the parameters: its x-acs-* headers are unsigned, so anyone replaying a
    // captured request could add one to pick another action. ACS3's verifier refuses any x-acs-*
    // header that is not among SignedHeaders, so there the headers are as trustworthy as parameters.
    const signedHeaders = principal.scheme === "ACS3-HMAC-SHA256";
    const actionName = params.Action ?? (signedHeaders ? header(request, "x-acs-action") : undefined);
    const version = params.Version ?? (signedHeaders ? header(request, "x-acs-version") : undefined);
    if (actionName === undefined)
      throw new DoppelError("MISSING_PARAMETER", "Missing parameter Action", "Action");
    if (version === undefined)
      throw new DoppelError("MISSING_PARAMETER", "Missing parameter Version", "Version");
    if (version !== ICE_VERSION) {
      throw new DoppelError(
        "UNSUPPORTED_VERSION",
        `Version ${JSON.stringify(version.slice(0, 32))} is not supported; use ${ICE_VERSION}`,
      );
    }
    const action = Object.hasOwn(ICE_ACTIONS, actionName) ? ICE_ACTIONS[actionName] : undefined;
    if (action === undefined) {
      throw new DoppelError(
        "API_NOT_FOUND",
        `Action ${JSON.stringify(actionName.slice(0, 64))} is not an ICE API that Doppel serves`,
      );
    }
    const data = await action.run(ctx, { principal }, validate(action.params, params), {
      origin: `${request.protocol}://${request.host}`,
    });
    return reply.send({ RequestId: iceRequestId(request), Data: data, Success: true });
  };
  app.get("/", handler);
  app.post("/", handler);
}

/** Business and common parameters: the query string, plus a form body when there is one. */
function rpcParams(request: FastifyRequest): Record<string, string> {
  const merged: Record<string, string> = {};
  const sources = [request.query, request.body];
  for (const source of sources) {
    if (source === null || typeof source !== "object" || Buffer.isBuffer(source)) continue;
    for (const [key, value] of Object.entries(source as Record<string, unknown>)) {
      if (typeof value === "string") merged[key] = value;
      // A repeated parameter is ambiguous; keep it visible so validation reports it.
      else if (Array.isArray(value)) merged[key] = value.join(",");
    }
  }
  return merged;
}

function validate(schema: TObject, raw: Record<string, string>): unknown {
  const value = Value.Default(schema, strictIntegers(schema, raw));
  const check = compiled.get(schema);
  if (!check) throw new Error("ICE action schema was not compiled");
  const first = check.Errors(value).First();
  if (first === undefined) return value;
  const name = first.path.replace(/^\//, "") || "request";
  const expected = (first.schema as { description?: string }).description ?? first.message;
  throw invalidParameter(
    name,
    `expected ${expected}, got ${JSON.stringify(String(raw[name] ?? "").slice(0, 64))}`,
  );
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === "string" ? value : undefined;
}
