import type { TObject } from "@sinclair/typebox";
import { type TypeCheck, TypeCompiler } from "@sinclair/typebox/compiler";
import { Value } from "@sinclair/typebox/value";
import type { FastifyRequest } from "fastify";
import { DoppelError, invalidParameter } from "../../../domain/errors.js";
import { checkText } from "../../../domain/text.js";
import type { IceJobInput } from "../../../services/ice-jobs.service.js";
import { strictIntegers } from "../../schemas/strict-integers.js";
import {
  type CreateAvatarTrainingJobParams,
  ICE_VERSION,
  type UpdateAvatarTrainingJobParams,
} from "./schemas.js";

/**
 * The action a call names and its parameters. HMAC-SHA1 signs only the parameters: its x-acs-* headers
 * are unsigned, so anyone replaying a captured request could add one to pick another action. ACS3's
 * verifier refuses any x-acs-* header that is not among SignedHeaders, so there the headers are as
 * trustworthy as parameters and may name the action and version.
 */
export function parseRpcCall(
  request: FastifyRequest,
  scheme: string,
): { actionName: string; params: Record<string, string> } {
  const params = rpcParams(request);
  const signedHeaders = scheme === "ACS3-HMAC-SHA256";
  const actionName = params.Action ?? (signedHeaders ? header(request, "x-acs-action") : undefined);
  const version = params.Version ?? (signedHeaders ? header(request, "x-acs-version") : undefined);
  if (actionName === undefined) throw new DoppelError("MISSING_PARAMETER", "Missing parameter Action");
  if (version === undefined) throw new DoppelError("MISSING_PARAMETER", "Missing parameter Version");
  if (version !== ICE_VERSION) {
    throw new DoppelError(
      "UNSUPPORTED_VERSION",
      `Version ${JSON.stringify(version.slice(0, 32))} is not supported; use ${ICE_VERSION}`,
    );
  }
  return { actionName, params };
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === "string" ? value : undefined;
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

const compiled = new WeakMap<TObject, TypeCheck<TObject>>();

/**
 * Checks an action's string parameters against its schema (integers strictly, defaults filled) and
 * answers InvalidParameter naming the first bad one, then MissingParameter for an absent `required`
 * one: they are optional in the schema so that a missing one gets Alibaba's own code, naming it.
 */
export function validateParams<P>(
  schema: TObject,
  required: readonly string[],
  raw: Record<string, string>,
): P {
  const value = Value.Default(schema, strictIntegers(schema, raw)) as Record<string, unknown>;
  let check = compiled.get(schema);
  if (check === undefined) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  const first = check.Errors(value).First();
  if (first !== undefined) {
    const name = first.path.replace(/^\//, "") || "request";
    const expected = (first.schema as { description?: string }).description ?? first.message;
    throw invalidParameter(
      name,
      `expected ${expected}, got ${JSON.stringify(String(raw[name] ?? "").slice(0, 64))}`,
    );
  }
  for (const name of required) {
    if (value[name] === undefined || value[name] === "") {
      throw new DoppelError("MISSING_PARAMETER", `Missing parameter ${name}: it is required`);
    }
  }
  return value as P;
}

/**
 * The job fields of a create or update, checked and typed for the ICE service (absent stays absent).
 * An empty media or URL parameter means "none" in a create; in an update it clears Portrait and
 * Thumbnail, and is refused for Video and ConsentMedia, which a job cannot be left without once given.
 */
export function parseJobInput(
  p: CreateAvatarTrainingJobParams | UpdateAvatarTrainingJobParams,
  mode: "create" | "update",
): IceJobInput {
  const media = ["Video", "ConsentMedia", "Portrait", "Thumbnail"] as const;
  if (mode === "create") {
    p = {
      ...p,
      ...Object.fromEntries(media.filter((name) => p[name] === "").map((name) => [name, undefined])),
    };
  }
  for (const name of ["Video", "ConsentMedia"] as const) {
    if (p[name] === "") {
      throw invalidParameter(
        name,
        "cannot be cleared; pass the MediaId of another uploaded file to replace it",
      );
    }
  }
  return {
    name: p.AvatarName === undefined ? undefined : avatarName(p.AvatarName),
    description:
      p.AvatarDescription === undefined
        ? undefined
        : checkText("AvatarDescription", p.AvatarDescription, 1000),
    avatarType: p.AvatarType,
    video: p.Video,
    consent: p.ConsentMedia,
    // An empty Portrait or Thumbnail clears it.
    portrait: p.Portrait,
    thumbnail: p.Thumbnail === undefined || p.Thumbnail === "" ? p.Thumbnail : thumbnail(p.Thumbnail),
    transparent: p.Transparent === undefined ? undefined : p.Transparent.toLowerCase() === "true",
  };
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

/** Alibaba's ClientToken: at most 64 printable ASCII characters. */
export function clientToken(value: string | undefined): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^[\x21-\x7e]{1,64}$/.test(value)) {
    throw invalidParameter("ClientToken", "must be 1 to 64 printable ASCII characters without spaces");
  }
  return value;
}
