/**
 * The key rules both blob stores enforce, so a key that works against S3 in production also works in the
 * embedded local store, and no key can name a path outside the local store's root.
 */

/**
 * Names starting with this are the stores' own (the local store's data, sidecar and temp files; the S3
 * store's temp uploads), so no segment of a caller's key may start with it.
 */
export const RESERVED_PREFIX = ".doppel";

/** S3's limit on a whole key, in UTF-8 bytes. */
const MAX_KEY_BYTES = 1024;
/** A filesystem name is at most 255 bytes, and the local store makes each segment a directory. */
const MAX_SEGMENT_BYTES = 255;

// Control characters cannot be represented in the XML of an S3 listing; `\` would be a separator on Windows.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const FORBIDDEN_CHARACTER = /[\u0000-\u001f\u007f\\]/;

/** Why `key` is not a valid blob key, or undefined when it is. */
function keyProblem(key: string): string | undefined {
  if (key === "") return "it is empty";
  if (!key.isWellFormed()) return "it is not valid Unicode";
  if (FORBIDDEN_CHARACTER.test(key)) return "it contains a backslash or a control character";
  if (key.startsWith("/")) return "it is absolute";
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) return `it is longer than ${MAX_KEY_BYTES} bytes`;
  const segments = key.split("/");
  for (const segment of segments) {
    if (segment === "") return "it has an empty segment";
    if (segment === "." || segment === "..") return `it has a ${segment} segment`;
    if (segment.startsWith(RESERVED_PREFIX))
      return `a segment starts with ${RESERVED_PREFIX}, which is reserved`;
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES)
      return `a segment is longer than ${MAX_SEGMENT_BYTES} bytes`;
  }
  return undefined;
}

/** Whether `key` is a valid blob key (see assertValidKey). */
export function isValidKey(key: string): boolean {
  return keyProblem(key) === undefined;
}

/** Throws unless `key` is a relative `/`-separated path without empty, `.` or `..` segments. */
export function assertValidKey(key: string): void {
  const problem = keyProblem(key);
  if (problem !== undefined) throw new Error(`invalid blob key ${JSON.stringify(key)}: ${problem}`);
}

/**
 * Whether some valid key could start with `prefix`. Prefixes are plain string prefixes, as in S3
 * (`a/b` matches `a/bc`); one that no valid key can start with (`../`, `/x`, `a//`) matches nothing rather
 * than throwing, and is never used to build a path.
 */
export function prefixCanMatch(prefix: string): boolean {
  if (prefix === "") return true;
  if (!prefix.isWellFormed() || FORBIDDEN_CHARACTER.test(prefix) || prefix.startsWith("/")) return false;
  const slash = prefix.lastIndexOf("/");
  if (prefix.slice(slash + 1).startsWith(RESERVED_PREFIX)) return false;
  return slash === -1 || keyProblem(prefix.slice(0, slash)) === undefined;
}

/** Orders keys by their UTF-8 bytes, as S3 lists them (JS `<` compares UTF-16 units, which differs). */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
