import { finishAcs3HmacSha256, verifyAcs3HmacSha256, verifyAcs3Signature } from "../auth/acs3-hmac-sha256.js";
import { detectScheme } from "../auth/detect-scheme.js";
import { checkRpcV1Head, verifyRpcV1HmacSha1 } from "../auth/rpc-v1-hmac-sha1.js";
import { UNSIGNED_PAYLOAD } from "../auth/sdk-canonical.js";
import { checkSdkHead, verifySdkHmacSha256, verifySdkSignature } from "../auth/sdk-hmac-sha256.js";
import type {
  IncomingSignedRequest,
  Principal,
  SignedRequestHead,
  VerifierDeps,
} from "../auth/signed-request.js";
import { hashToken } from "../auth/token-hash.js";
import { DoppelError } from "../domain/errors.js";
import { findEnabledAccessKey, findToken } from "../store/credential.repository.js";
import type { ServiceContext } from "./context.js";
import { credentialCacheOf } from "./credential-cache.js";
import { noteKeyUse } from "./key-usage.js";
import { claimNonceBatched } from "./nonce-batcher.js";

/** Which schemes a dialect accepts: each cloud's SDK only ever sends its own. */
export type SchemeFamily = "huawei" | "alibaba";

const FAMILY_SCHEMES: Record<SchemeFamily, readonly Principal["scheme"][]> = {
  huawei: ["SDK-HMAC-SHA256", "TOKEN"],
  alibaba: ["ACS3-HMAC-SHA256", "HMAC-SHA1"],
};

const HOW_TO_AUTHENTICATE: Record<SchemeFamily, string> = {
  huawei: "sign the request with SDK-HMAC-SHA256 (Authorization + X-Sdk-Date) or send X-Auth-Token",
  alibaba: "sign the request with ACS3-HMAC-SHA256 (x-acs-* headers) or HMAC-SHA1 (Signature in the query)",
};

/** Authenticates a request with whichever of its family's schemes it uses. */
export async function authenticate(
  ctx: ServiceContext,
  family: SchemeFamily,
  request: IncomingSignedRequest,
): Promise<Principal> {
  const scheme = familyScheme(family, detectScheme(request));
  switch (scheme) {
    case "TOKEN":
      return authenticateToken(ctx, request.headers["x-auth-token"] ?? "");
    case "SDK-HMAC-SHA256":
      return usedKey(ctx, await verifySdkHmacSha256(request, verifierDeps(ctx)));
    case "ACS3-HMAC-SHA256":
      return usedKey(ctx, await verifyAcs3HmacSha256(request, verifierDeps(ctx)));
    case "HMAC-SHA1":
      return usedKey(ctx, await verifyRpcV1HmacSha1(request, verifierDeps(ctx)));
  }
}

/** Authentication begun from a request's head, before its body is read. */
export interface HeadAuthentication {
  /**
   * Who sent the request, when its head alone proves it (a token; a signature that covers no body yet
   * to come). Undefined while the proof needs the body. Call `finish` before acting either way.
   */
  readonly principal: Principal | undefined;
  /** Completes the authentication with the whole request, body included. */
  finish(request: IncomingSignedRequest): Promise<Principal>;
}

const NO_BODY = Buffer.alloc(0);
const FORM_CONTENT_TYPE = "application/x-www-form-urlencoded";

/**
 * Checks everything the head of a request can show, so that a caller who cannot authenticate is
 * refused before the server reads (and parses) a body it sent. X-Auth-Token and ACS3-HMAC-SHA256 are
 * verified in full (ACS3 signs the body's hash in a header; `finish` holds the body to it and only then
 * claims the nonce). SDK-HMAC-SHA256 and RPC v1 sign the body itself (payload hash, form parameters):
 * before it, the Authorization shape, the date and its skew and the access key are checked; the
 * signature is checked by `finish`. A request without a body is verified in full at once.
 */
export async function authenticateHead(
  ctx: ServiceContext,
  family: SchemeFamily,
  head: SignedRequestHead,
  bodyPending: boolean,
): Promise<HeadAuthentication> {
  const detected = detectScheme({ ...head, body: NO_BODY });
  if (detected === undefined && family === "alibaba" && bodyPending && isForm(head)) {
    // RPC v1 may carry all its parameters, credentials included, in the form body: only it can tell.
    return { principal: undefined, finish: (request) => authenticate(ctx, family, request) };
  }
  const scheme = familyScheme(family, detected);
  const deps = verifierDeps(ctx);
  const known = (principal: Principal): HeadAuthentication => ({ principal, finish: async () => principal });
  switch (scheme) {
    case "TOKEN":
      return known(await authenticateToken(ctx, head.headers["x-auth-token"] ?? ""));
    case "ACS3-HMAC-SHA256": {
      const signed = await verifyAcs3Signature(head, deps);
      return {
        principal: signed.principal,
        finish: async (request) => usedKey(ctx, await finishAcs3HmacSha256(signed, request.body, deps)),
      };
    }
    case "SDK-HMAC-SHA256": {
      const checked = await checkSdkHead(head, deps);
      if (!bodyPending) return known(usedKey(ctx, verifySdkSignature(checked, { ...head, body: NO_BODY })));
      if (head.headers["x-sdk-content-sha256"] === UNSIGNED_PAYLOAD) {
        // The SDK sends UNSIGNED-PAYLOAD only for file uploads; an API call's body must be signed, or
        // a captured request could be replayed with another body.
        throw new DoppelError(
          "SIGNATURE_MALFORMED",
          "X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD leaves the body unsigned; API calls must sign their body",
        );
      }
      return {
        principal: undefined,
        finish: async (request) => usedKey(ctx, verifySdkSignature(checked, request)),
      };
    }
    case "HMAC-SHA1":
      if (!bodyPending)
        return known(usedKey(ctx, await verifyRpcV1HmacSha1({ ...head, body: NO_BODY }, deps)));
      await checkRpcV1Head(head, true, deps);
      return {
        principal: undefined,
        finish: async (request) => usedKey(ctx, await verifyRpcV1HmacSha1(request, deps)),
      };
  }
}

function isForm(head: SignedRequestHead): boolean {
  return head.headers["content-type"]?.split(";")[0]?.trim().toLowerCase() === FORM_CONTENT_TYPE;
}

/** The detected scheme if the family accepts it; AUTH_MISSING otherwise. */
function familyScheme(family: SchemeFamily, scheme: Principal["scheme"] | undefined): Principal["scheme"] {
  if (scheme === undefined || !FAMILY_SCHEMES[family].includes(scheme)) {
    throw new DoppelError(
      "AUTH_MISSING",
      scheme === undefined
        ? `The request carries no credentials: ${HOW_TO_AUTHENTICATE[family]}`
        : `${scheme} is not accepted on this API: ${HOW_TO_AUTHENTICATE[family]}`,
    );
  }
  return scheme;
}

/** Notes the verified key's use (for `doppel key list`) and passes the principal on. */
function usedKey(ctx: ServiceContext, principal: Principal): Principal {
  if (principal.accessKeyId !== null) noteKeyUse(ctx, principal.accessKeyId);
  return principal;
}

async function authenticateToken(ctx: ServiceContext, token: string): Promise<Principal> {
  const tokens = credentialCacheOf(ctx.database).tokens;
  const hash = hashToken(token);
  const now = ctx.now();
  let found = tokens.get(hash);
  if (found === undefined && token !== "") {
    found = await findToken(ctx.database.db, hash, now);
    if (found) tokens.set(hash, found);
  }
  const projectId = found !== undefined && found.expireTime > now ? found.projectId : undefined;
  if (projectId === undefined) {
    throw new DoppelError(
      "TOKEN_INVALID",
      "X-Auth-Token is unknown or expired; create one with `doppel token create`",
    );
  }
  return { projectId, accessKeyId: null, scheme: "TOKEN" };
}

function verifierDeps(ctx: ServiceContext): VerifierDeps {
  const keys = credentialCacheOf(ctx.database).accessKeys;
  return {
    findAccessKey: async (accessKeyId) => {
      const cached = keys.get(accessKeyId);
      if (cached) return cached;
      const stored = await findEnabledAccessKey(ctx.database.db, accessKeyId);
      if (!stored) return undefined;
      const record = {
        accessKeyId: stored.id,
        projectId: stored.projectId,
        secret: ctx.secrets.open(stored.secretCiphertext),
      };
      keys.set(accessKeyId, record);
      return record;
    },
    claimNonce: (accessKeyId, nonce, expiresAtMs) =>
      claimNonceBatched(ctx.database, ctx.now, accessKeyId, nonce, expiresAtMs),
    now: ctx.now,
    maxClockSkewMs: ctx.config.maxClockSkewMs,
  };
}
