/**
 * The files a job has, each in a slot. Multipart slots take numbered parts (1…count) that are later
 * assembled into one file; the others take one upload.
 */
export const FILE_SLOTS = ["training-video", "action-video", "grant-file", "cover", "audio"] as const;
export type FileSlot = (typeof FILE_SLOTS)[number];

export const MULTIPART_SLOTS: ReadonlySet<FileSlot> = new Set(["training-video", "action-video"]);

/** How long an upload or download URL stays valid: 24 hours, as both clouds document. */
export const FILE_URL_TTL_MS = 24 * 3600 * 1000;

/** The path Doppel serves an upload slot (and part) at; signed URLs add `expires` and `signature`. */
export function uploadPath(jobId: string, slot: FileSlot, part?: number): string {
  return part === undefined ? `/uploads/${jobId}/${slot}` : `/uploads/${jobId}/${slot}/${part}`;
}

/** Kinds of file, by sniffed type: the videos both clouds document, still images, PDF documents. */
export const VIDEO_TYPES: readonly string[] = ["video/mp4", "video/quicktime", "video/webm"];
export const IMAGE_TYPES: readonly string[] = ["image/jpeg", "image/png", "image/webp"];
export const PDF_TYPES: readonly string[] = ["application/pdf"];

/** What each slot accepts, by sniffed type: videos as both clouds document, consent as video or letter. */
export const ACCEPTED_TYPES: Readonly<Record<FileSlot, readonly string[]>> = {
  "training-video": VIDEO_TYPES,
  "action-video": VIDEO_TYPES,
  "grant-file": [...VIDEO_TYPES, ...PDF_TYPES, "image/jpeg", "image/png"],
  cover: IMAGE_TYPES,
  audio: [
    "audio/wav",
    "audio/vnd.wave",
    "audio/x-wav",
    "audio/mpeg",
    "audio/mp4",
    "audio/x-m4a",
    "audio/aac",
    "audio/ogg",
  ],
};

/** The path Doppel serves a job's whole file at; signed URLs add `expires` and `signature`. */
export function downloadPath(jobId: string, slot: FileSlot): string {
  return `/downloads/${jobId}/${slot}`;
}

/**
 * Media (ICE `CreateUploadMedia`): files uploaded on their own and named by id as a job's `Video`,
 * `Portrait` or `ConsentMedia`. Their types are ICE's FileInfo types; `other` is a PDF (a consent letter).
 */
export const MEDIA_TYPES = ["video", "image", "other"] as const;
export type MediaType = (typeof MEDIA_TYPES)[number];

/** What each media type accepts, by sniffed type. */
export const MEDIA_ACCEPTED_TYPES: Readonly<Record<MediaType, readonly string[]>> = {
  video: VIDEO_TYPES,
  image: IMAGE_TYPES,
  other: PDF_TYPES,
};
