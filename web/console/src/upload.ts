/**
 * The browser's side of a new job's upload: which parts to send, and the state kept in the tab's
 * session storage so a reloaded page resumes the same job instead of starting over. MetaStudio hands
 * out a job's upload URLs only when it is created, so they are kept with the job's id; like the token,
 * they are credentials, and stay in this tab's storage only.
 */
import { type PartRange, partRanges } from "../../../src/domain/parts.js";

/** What identifies a file the user picks again after a reload (its bytes cannot be kept). */
export interface FileIdentity {
  readonly name: string;
  readonly size: number;
  readonly lastModified: number;
}

export interface SavedUpload {
  readonly projectId: string;
  readonly jobId: string;
  readonly jobName: string;
  readonly video: FileIdentity;
  readonly consent?: FileIdentity;
  /** One per part, in part order (`training_video_upload_url`). */
  readonly videoUrls: readonly string[];
  readonly grantUrl: string;
  /** When the URLs stop working (epoch ms). */
  readonly expiresAt: number;
  /** The consent file went up already. */
  readonly consentUploaded: boolean;
}

/** About this much per part: a reload mid-upload redoes at most one part per stream. */
export const PART_BYTES = 16 * 1024 * 1024;

const KEY = "doppel.console.upload";

/** The part of the Web Storage interface used (the tab's `sessionStorage`). */
export interface TabStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export function identityOf(file: FileIdentity): FileIdentity {
  return { name: file.name, size: file.size, lastModified: file.lastModified };
}

export function sameFile(a: FileIdentity | undefined, b: FileIdentity | undefined): boolean {
  return (
    a !== undefined &&
    b !== undefined &&
    a.name === b.name &&
    a.size === b.size &&
    a.lastModified === b.lastModified
  );
}

/**
 * The parts of a `size`-byte file cut into `parts` that still need sending. Parts the server holds
 * (GET_MULTIPART_UPLOADED) are whole — the server keeps a part only once it has all of it — but they
 * are of this file only if it is the file they were sent from (`resumingSameFile`); otherwise every
 * part goes again and replaces what is there.
 */
export function partsToSend(
  size: number,
  parts: number,
  present: ReadonlySet<number>,
  resumingSameFile: boolean,
): PartRange[] {
  const ranges = partRanges(size, parts);
  return resumingSameFile ? ranges.filter((r) => !present.has(r.partNumber)) : ranges;
}

/** When signed URLs expire: their `expires` query parameter (seconds), or `fallback` when unreadable. */
export function expiryOf(url: string, fallback: number): number {
  try {
    const expires = Number(new URL(url, "http://localhost/").searchParams.get("expires"));
    return Number.isFinite(expires) && expires > 0 ? expires * 1000 : fallback;
  } catch {
    return fallback;
  }
}

/** The unfinished upload of `projectId` kept in `storage`, if any is there, well-formed and unexpired. */
export function loadUpload(storage: TabStorage, projectId: string, now: number): SavedUpload | undefined {
  let saved: unknown;
  try {
    saved = JSON.parse(storage.getItem(KEY) ?? "null");
  } catch {
    return undefined;
  }
  if (!isSavedUpload(saved) || saved.projectId !== projectId || saved.expiresAt <= now) return undefined;
  return saved;
}

export function saveUpload(storage: TabStorage, upload: SavedUpload): void {
  storage.setItem(KEY, JSON.stringify(upload));
}

export function forgetUpload(storage: TabStorage): void {
  storage.removeItem(KEY);
}

function isIdentity(value: unknown): value is FileIdentity {
  const v = value as FileIdentity;
  return (
    typeof v === "object" &&
    v !== null &&
    typeof v.name === "string" &&
    Number.isSafeInteger(v.size) &&
    v.size >= 0 &&
    Number.isFinite(v.lastModified)
  );
}

/** Storage is the user's to change: anything not exactly a saved upload is ignored, never trusted. */
function isSavedUpload(value: unknown): value is SavedUpload {
  const v = value as SavedUpload;
  return (
    typeof v === "object" &&
    v !== null &&
    typeof v.projectId === "string" &&
    typeof v.jobId === "string" &&
    typeof v.jobName === "string" &&
    isIdentity(v.video) &&
    (v.consent === undefined || isIdentity(v.consent)) &&
    Array.isArray(v.videoUrls) &&
    v.videoUrls.length >= 1 &&
    v.videoUrls.every((u) => typeof u === "string") &&
    typeof v.grantUrl === "string" &&
    Number.isFinite(v.expiresAt) &&
    typeof v.consentUploaded === "boolean"
  );
}
