import { verifyAcs3HmacSha256 } from "../auth/acs3-hmac-sha256.js";
import { detectScheme } from "../auth/detect-scheme.js";
import { verifyRpcV1HmacSha1 } from "../auth/rpc-v1-hmac-sha1.js";
import { verifySdkHmacSha256 } from "../auth/sdk-hmac-sha256.js";
import type { IncomingSignedRequest, Principal, VerifierDeps } from "../auth/signed-request.js";
import { DoppelError } from "../domain/errors.js";
import { findEnabledAccessKey, findToken } from "../store/credential.repository.js";
import { hashToken } from "./admin.service.js";
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
  const scheme = detectScheme(request);
  if (scheme === undefined || !FAMILY_SCHEMES[family].includes(scheme)) {
    throw new DoppelError(
      "AUTH_MISSING",
      scheme === undefined
        ? `The request carries no credentials: ${HOW_TO_AUTHENTICATE[family]}`
        : `${scheme} is not accepted on this API: ${HOW_TO_AUTHENTICATE[family]}`,
    );
  }
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
