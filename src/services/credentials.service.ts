import { hashToken } from "../auth/token-hash.js";
import { DoppelError } from "../domain/errors.js";
import { formatUtcSeconds } from "../domain/time.js";
import { listAdminTokens, revokeAdminTokens } from "../store/admin-token.repository.js";
import { listAccessKeys, revokeAccessKey, revokeToken } from "../store/credential.repository.js";
import { requireProject } from "./admin.service.js";
import type { ServiceContext } from "./context.js";

/**
 * Listing and revoking credentials (`doppel key list|revoke`, `doppel token revoke`, `doppel
 * admin-token list|revoke`). Listings never carry a secret, a token or a token's hash. A revocation is
 * written to the database; every server process refuses the credential within 5 seconds (see
 * credential-cache.ts for why that needs nothing more).
 */

type Status = "active" | "revoked" | "expired";

export interface AccessKeyInfo {
  readonly access_key_id: string;
  readonly project_id: string;
  readonly created_at: string;
  readonly status: Status;
  readonly revoked_at: string | null;
  /** To the minute (see key-usage.ts); null when never used. */
  readonly last_used_at: string | null;
}

/** A project's access keys, oldest first. */
export async function listProjectAccessKeys(
  ctx: ServiceContext,
  projectId: string,
): Promise<AccessKeyInfo[]> {
  await requireProject(ctx, projectId);
  return (await listAccessKeys(ctx.database.db, projectId)).map((key) => ({
    access_key_id: key.id,
    project_id: key.projectId,
    created_at: formatUtcSeconds(key.createTime),
    status: key.revokeTime === null ? "active" : "revoked",
    revoked_at: timeOrNull(key.revokeTime),
    last_used_at: timeOrNull(key.lastUsedTime),
  }));
}

/** Revokes an access key for good; revoking it again changes nothing. */
export async function revokeProjectAccessKey(
  ctx: ServiceContext,
  accessKeyId: string,
): Promise<{ access_key_id: string; project_id: string; revoked_at: string }> {
  const revoked = await revokeAccessKey(ctx.database.db, accessKeyId, ctx.now());
  if (!revoked) {
    throw new DoppelError(
      "ACCESS_KEY_NOT_FOUND",
      `there is no access key ${accessKeyId} (see \`doppel key list --project <id>\`)`,
    );
  }
  return {
    access_key_id: accessKeyId,
    project_id: revoked.projectId,
    revoked_at: formatUtcSeconds(revoked.revokeTime),
  };
}

/** Revokes an X-Auth-Token, named by the token itself (only its hash is stored). */
export async function revokeProjectToken(
  ctx: ServiceContext,
  token: string,
): Promise<{ project_id: string }> {
  const revoked = await revokeToken(ctx.database.db, hashToken(token), ctx.now());
  if (!revoked) throw new DoppelError("TOKEN_INVALID", "there is no such X-Auth-Token");
  return { project_id: revoked.projectId };
}

export interface AdminTokenInfo {
  readonly name: string;
  readonly created_at: string;
  readonly expires_at: string;
  readonly status: Status;
  readonly revoked_at: string | null;
}

/** Every operator token by name, oldest first. */
export async function listOperatorTokens(ctx: ServiceContext): Promise<AdminTokenInfo[]> {
  const now = ctx.now();
  return (await listAdminTokens(ctx.database.db)).map((token) => ({
    name: token.name,
    created_at: formatUtcSeconds(token.createTime),
    expires_at: formatUtcSeconds(token.expireTime),
    status: token.revokeTime !== null ? "revoked" : token.expireTime <= now ? "expired" : "active",
    revoked_at: timeOrNull(token.revokeTime),
  }));
}

/** Revokes every live operator token of `name`; fails when there is none. */
export async function revokeOperatorTokens(
  ctx: ServiceContext,
  name: string,
): Promise<{ name: string; revoked: number }> {
  const revoked = await revokeAdminTokens(ctx.database.db, name, ctx.now());
  if (revoked === 0) {
    throw new DoppelError(
      "TOKEN_INVALID",
      `there is no active operator token named ${JSON.stringify(name)} (see \`doppel admin-token list\`)`,
    );
  }
  return { name, revoked };
}

function timeOrNull(ms: number | null): string | null {
  return ms === null ? null : formatUtcSeconds(ms);
}
