import { randomBytes } from "node:crypto";
import { hashToken } from "../auth/token-hash.js";
import { DoppelError } from "../domain/errors.js";
import { newJobId } from "../domain/job.js";
import { insertAccessKey, insertToken } from "../store/credential.repository.js";
import { findProject, insertProject, listProjects, type ProjectRecord } from "../store/project.repository.js";
import type { ServiceContext } from "./context.js";

/** Creates a project (tenant). Its id is 32 hex characters, like Huawei project ids. */
export async function createProject(ctx: ServiceContext, name: string): Promise<ProjectRecord> {
  const trimmed = name.trim();
  if (trimmed === "" || trimmed.length > 255)
    throw new DoppelError("INVALID_PARAMETER", "project name must be 1–255 characters");
  const project = { id: newJobId(ctx.now()), name: trimmed, createTime: ctx.now() };
  await insertProject(ctx.database.db, project);
  return project;
}

export interface IssuedAccessKey {
  readonly access_key_id: string;
  readonly secret_access_key: string;
  readonly project_id: string;
}

/** Issues an AK/SK pair for a project; the secret is shown once and stored only encrypted. */
export async function createAccessKey(ctx: ServiceContext, projectId: string): Promise<IssuedAccessKey> {
  await requireProject(ctx, projectId);
  // 20 upper-case alphanumerics like Huawei AKs; 40-character secrets like both clouds' SKs.
  const accessKeyId = randomToken(20, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
  const secret = randomToken(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
  await insertAccessKey(ctx.database.db, {
    id: accessKeyId,
    projectId,
    secretCiphertext: ctx.secrets.seal(secret),
    createTime: ctx.now(),
  });
  return { access_key_id: accessKeyId, secret_access_key: secret, project_id: projectId };
}

export interface IssuedToken {
  readonly token: string;
  readonly project_id: string;
  readonly expires_at: string;
}

/** Issues an `X-Auth-Token` for a project, valid for the configured lifetime; only its hash is stored. */
export async function createToken(ctx: ServiceContext, projectId: string): Promise<IssuedToken> {
  await requireProject(ctx, projectId);
  const token = `dpl_${randomBytes(32).toString("base64url")}`;
  const now = ctx.now();
  const expireTime = now + ctx.config.tokenTtlMs;
  await insertToken(ctx.database.db, { tokenHash: hashToken(token), projectId, createTime: now, expireTime });
  return { token, project_id: projectId, expires_at: new Date(expireTime).toISOString() };
}

/** Throws PROJECT_NOT_FOUND unless the project exists. */
export async function requireProject(ctx: ServiceContext, projectId: string): Promise<void> {
  if (!(await findProject(ctx.database.db, projectId))) {
    throw new DoppelError(
      "PROJECT_NOT_FOUND",
      `project ${projectId} does not exist (see \`doppel project list\`)`,
    );
  }
}

function randomToken(length: number, alphabet: string): string {
  // Rejection sampling keeps every character equally likely.
  const limit = 256 - (256 % alphabet.length);
  let out = "";
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < limit && out.length < length) out += alphabet[byte % alphabet.length];
    }
  }
  return out;
}

/** The first project, created as "default" when there is none, so a fresh install has somewhere to put keys. */
export async function ensureDefaultProject(
  ctx: ServiceContext,
): Promise<ProjectRecord & { created: boolean }> {
  const existing = (await listProjects(ctx.database.db))[0];
  if (existing) return { ...existing, created: false };
  return { ...(await createProject(ctx, "default")), created: true };
}

/** Every project, oldest first. */
export async function listAllProjects(ctx: ServiceContext): Promise<ProjectRecord[]> {
  return listProjects(ctx.database.db);
}
