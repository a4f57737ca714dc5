import { randomBytes } from "node:crypto";
import { hashToken } from "../auth/token-hash.js";
import { DoppelError, invalidParameter } from "../domain/errors.js";
import { checkText } from "../domain/text.js";
import { findAdminToken, insertAdminToken } from "../store/admin-token.repository.js";
import { findToken } from "../store/credential.repository.js";
import type { ServiceContext } from "./context.js";

/** Operator tokens: issued by `doppel admin-token create`, they open the admin and worker APIs. */

export interface IssuedAdminToken {
  readonly token: string;
  readonly name: string;
  readonly expires_at: string;
}

/** Issues an operator's bearer token for the admin API, valid `ttlMs`; only its hash is stored. */
export async function createAdminToken(
  ctx: ServiceContext,
  name: string,
  ttlMs = 365 * 24 * 3600 * 1000,
): Promise<IssuedAdminToken> {
  const operator = checkText("name", name, 128).trim();
  if (operator === "") throw invalidParameter("name", "must not be empty");
  const token = `dpa_${randomBytes(32).toString("base64url")}`;
  const now = ctx.now();
  await insertAdminToken(ctx.database.db, {
    tokenHash: hashToken(token),
    name: operator,
    createTime: now,
    expireTime: now + ttlMs,
  });
  return { token, name: operator, expires_at: new Date(now + ttlMs).toISOString() };
}

/** The operator an `Authorization: Bearer <admin token>` header names; project credentials get FORBIDDEN. */
export async function authenticateAdmin(
  ctx: ServiceContext,
  authorization: string | undefined,
): Promise<string> {
  const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? "")?.[1];
  if (token === undefined) {
    throw new DoppelError(
      "AUTH_MISSING",
      "The admin API needs an operator token: Authorization: Bearer <token> (make one with `doppel admin-token create`)",
    );
  }
  const hash = hashToken(token);
  // Not cached: operator calls are few, and a revoked or expired operator token stops at once.
  const operator = await findAdminToken(ctx.database.db, hash, ctx.now());
  if (operator !== undefined) return operator;
  if (await findToken(ctx.database.db, hash, ctx.now())) {
    throw new DoppelError("FORBIDDEN", "This is a project's token; the admin API takes operator tokens only");
  }
  throw new DoppelError("TOKEN_INVALID", "The operator token is unknown or expired");
}
