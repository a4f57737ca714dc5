/**
 * The canonical request of Huawei's SDK-HMAC-SHA256 as text: no hashing and no Node modules, so the
 * verifier, the Node signer and the console's browser signer (WebCrypto) build it with the same code.
 */
import { formatUtcSeconds } from "../domain/time.js";
import { encodeRfc3986 } from "./percent-encoding.js";

/** The scheme name, first word of the Authorization header. */
export const SDK_HMAC_SHA256 = "SDK-HMAC-SHA256";
/** The `X-Sdk-Content-Sha256` value that makes the signature cover this literal instead of the body. */
export const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";

/** The parts of an SDK-HMAC-SHA256 canonical request, each already in canonical form. */
export interface SdkCanonicalParts {
  readonly method: string;
  /** From `canonicalUri`. */
  readonly uri: string;
  /** From `canonicalQuery` / `canonicalQueryFromRaw`. */
  readonly query: string;
  /** One `name:value\n` line per signed header, in signing order (`canonicalHeaderLines`). */
  readonly headerLines: string;
  /** The SignedHeaders field exactly as it appears in the Authorization header. */
  readonly signedHeadersField: string;
  /** From `sdkPayloadHash`. */
  readonly payloadHash: string;
}

/** The canonical request: what StringToSign hashes (`SDK-HMAC-SHA256\n<date>\n<hex sha256 of this>`). */
export function sdkCanonicalRequest(parts: SdkCanonicalParts): string {
  return [
    parts.method,
    parts.uri,
    parts.query,
    parts.headerLines,
    parts.signedHeadersField,
    parts.payloadHash,
  ].join("\n");
}

/**
 * The canonical URI exactly as the Node SDK builds it: each segment of the path is RFC 3986 encoded and
 * the result always ends with `/`. The SDK encodes the *already percent-encoded* path it hands to the
 * HTTP client (a job id `a b` goes out as `a%20b` and is signed as `a%2520b`), so segments are encoded
 * as received, never decoded first. (Huawei's Python SDK `unquote`s the path before encoding it; the
 * two agree whenever a path has no `%`, which holds for every MetaStudio path: project ids and job ids
 * are letters, digits and `-`. Accepting both forms would let `/a%20b` and `/a%2520b` share a signature.)
 * Known gap: the Node SDK signs the path as `url.parse` escapes it but sends it as WHATWG `URL` escapes
 * it; the two differ for `'`, `|`, `^` and non-ASCII characters, so path parameters containing those
 * never verify (the SDK's signature does not describe what it sent). MetaStudio ids never contain them.
 * The SDK also strips a trailing `/` before sending, so `/jobs` and `/jobs/` share one canonical form.
 */
export function canonicalUri(path: string): string {
  const encoded = (path === "" ? "/" : path).split("/").map(encodeRfc3986).join("/");
  return encoded.endsWith("/") ? encoded : `${encoded}/`;
}

/** The order the Node SDK writes canonical header lines in (`localeCompare` of the lowercase names). */
export function localeHeaderOrder(names: readonly string[]): string[] {
  return [...names].sort((a, b) => a.localeCompare(b));
}

/** The X-Sdk-Date value of a time: `YYYYMMDDTHHMMSSZ`. */
export function formatSdkDate(date: Date | number): string {
  const ms = typeof date === "number" ? date : date.getTime();
  if (!Number.isFinite(ms)) throw new Error("the signing date is not a valid time");
  return formatUtcSeconds(ms).replace(/[-:]/g, "");
}
