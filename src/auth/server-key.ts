import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The 32-byte key that encrypts stored secrets: from config when given, else `<dataDir>/server.key`,
 * generated on first start with owner-only permissions. Losing it makes stored access keys unusable.
 */
export function loadServerKey(configured: string | undefined, dataDir: string): Buffer {
  if (configured !== undefined) return decode(configured, "DOPPEL_SERVER_KEY");
  const path = join(dataDir, "server.key");
  try {
    return decode(readFileSync(path, "utf8").trim(), path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32);
  try {
    // `wx` fails if another process created the file first; then use theirs.
    writeFileSync(path, `${key.toString("base64")}\n`, { mode: 0o600, flag: "wx" });
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    return decode(readFileSync(path, "utf8").trim(), path);
  }
}

function decode(text: string, source: string): Buffer {
  const key = Buffer.from(text, "base64");
  if (key.length !== 32) throw new Error(`${source} must hold a base64-encoded 32-byte key`);
  return key;
}
