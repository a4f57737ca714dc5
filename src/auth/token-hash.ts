import { createHash } from "node:crypto";

/** The stored form of a bearer token (project or operator): only this hash is kept, never the token. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}
