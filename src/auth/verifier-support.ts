/**
 * The steps every signature verifier shares: reading the clock window, finding the access key,
 * comparing signatures in constant time and claiming nonces. Kept here so the three schemes word their
 * errors the same way.
 */

import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { DoppelError } from "../domain/errors.js";
import { formatUtcSeconds, parseRfc3339 } from "../domain/time.js";
import type { AccessKeyRecord, IncomingSignedRequest, VerifierDeps } from "./signed-request.js";

/** Hex SHA-256 of a string (as UTF-8) or bytes. */
export function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** HMAC of a UTF-8 string with a UTF-8 key, as raw bytes. */
export function hmac(algorithm: "sha1" | "sha256", key: string, data: string): Buffer {
  return createHmac(algorithm, key).update(data, "utf8").digest();
}

/**
 * Compares a computed signature with the received one without leaking, through timing, how many leading
 * bytes matched (that would let an attacker forge a signature byte by byte).
 */
export function signaturesEqual(expected: Buffer, received: Buffer): boolean {
  return expected.length === received.length && timingSafeEqual(expected, received);
}

/** Reads a (lowercased) header, or undefined when it was not sent. */
export function headerOf(req: Pick<IncomingSignedRequest, "headers">, name: string): string | undefined {
  return req.headers[name];
}

/** Access key ids are printable ASCII without `,` (the Authorization field separator), at most 128 chars. */
const ACCESS_KEY_ID = /^[\x21-\x2b\x2d-\x7e]{1,128}$/;

/**
 * Checks the shape of an access key id before it reaches the key store. `malformed` wraps the reason
 * in the scheme's own error (so Authorization errors also show the expected header format).
 */
export function assertAccessKeyIdShape(
  accessKeyId: string,
  where: string,
  malformed: (why: string) => DoppelError = (why) => new DoppelError("SIGNATURE_MALFORMED", why),
): void {
  if (!ACCESS_KEY_ID.test(accessKeyId)) {
    throw malformed(
      `the access key id in ${where} must be 1 to 128 printable ASCII characters without commas or spaces; got ${JSON.stringify(accessKeyId.slice(0, 40))}`,
    );
  }
}

/** Finds an enabled access key or fails with ACCESS_KEY_NOT_FOUND. */
export async function lookupAccessKey(deps: VerifierDeps, accessKeyId: string): Promise<AccessKeyRecord> {
  const record = await deps.findAccessKey(accessKeyId);
  if (!record) {
    throw new DoppelError(
      "ACCESS_KEY_NOT_FOUND",
      `Access key ${accessKeyId} does not exist or is disabled; check the access key id the client is configured with`,
    );
  }
  return record;
}

/** Formats a duration as "N minutes" or "N minutes M seconds" (skews are easiest to act on in minutes). */
function formatDuration(ms: number): string {
  const totalSeconds = Math.floor(ms / 1000);
  const minutes = Math.floor(totalSeconds / 60);
  const seconds = totalSeconds % 60;
  const minutePart = `${minutes} ${minutes === 1 ? "minute" : "minutes"}`;
  if (seconds === 0) return minutePart;
  const secondPart = `${seconds} ${seconds === 1 ? "second" : "seconds"}`;
  return minutes === 0 ? secondPart : `${minutePart} ${secondPart}`;
}

/**
 * Rejects a request time more than `deps.maxClockSkewMs` from the server clock. `field` and `raw` name
 * the header or parameter and its value exactly as sent, so the caller sees which clock is off.
 */
export function assertWithinSkew(field: string, raw: string, timeMs: number, deps: VerifierDeps): void {
  const now = deps.now();
  const distance = Math.abs(timeMs - now);
  if (distance > deps.maxClockSkewMs) {
    const direction = timeMs < now ? "in the past" : "in the future";
    throw new DoppelError(
      "TIMESTAMP_EXPIRED",
      `${field} ${raw} is ${formatDuration(distance)} away from server time ${formatUtcSeconds(now)} (the request is dated ${direction}); allowed skew is ${formatDuration(deps.maxClockSkewMs)}. Sign a fresh request and check the client's clock`,
    );
  }
}

const ISO_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/**
 * Parses Alibaba's `yyyy-MM-ddTHH:mm:ssZ` (x-acs-date, Timestamp) strictly: both Alibaba signers print
 * exactly this, and a looser parser would let the same instant be written several ways.
 */
export function parseIsoSeconds(field: string, raw: string): number {
  const ms = ISO_SECONDS.test(raw) ? parseRfc3339(raw) : undefined;
  if (ms === undefined) {
    throw new DoppelError(
      "TIMESTAMP_MALFORMED",
      `${field} ${JSON.stringify(raw.slice(0, 40))} is not a UTC time of the form yyyy-MM-ddTHH:mm:ssZ, e.g. 2024-01-31T08:00:00Z`,
    );
  }
  return ms;
}

/**
 * The nonce store's column holds 255 characters; a longer nonce (or one PostgreSQL cannot store as
 * text, such as a NUL byte) would fail the database write that nonces of other callers share (see
 * services/nonce-batcher.ts). Both SDKs send UUID-like values, so printable ASCII loses no client.
 */
const MAX_NONCE_LENGTH = 255;
const NONCE_CHARACTERS = /^[\x21-\x7e]*$/;

/** Checks that a nonce is present, at most 255 printable ASCII characters; returns it. */
export function requireNonce(field: string, nonce: string | undefined): string {
  if (nonce === undefined || nonce === "") {
    throw new DoppelError(
      "MISSING_PARAMETER",
      `${field} is required: send a new random value with every request so that it cannot be replayed`,
    );
  }
  if (nonce.length > MAX_NONCE_LENGTH) {
    throw new DoppelError(
      "SIGNATURE_MALFORMED",
      `${field} is ${nonce.length} characters long; at most ${MAX_NONCE_LENGTH} are allowed`,
    );
  }
  if (!NONCE_CHARACTERS.test(nonce)) {
    throw new DoppelError(
      "SIGNATURE_MALFORMED",
      `${field} ${JSON.stringify(nonce.slice(0, 40))} may contain only printable ASCII characters (no spaces or control characters), e.g. a UUID`,
    );
  }
  return nonce;
}

/**
 * Records a nonce for an access key, failing with NONCE_REUSED when it was seen before. Call it only
 * after the signature verified, so a forger cannot use up nonces of real clients. The nonce is kept
 * until the request time plus the allowed skew: after that the timestamp check rejects a replay anyway.
 */
export async function claimNonceOnce(
  deps: VerifierDeps,
  field: string,
  accessKeyId: string,
  nonce: string,
  requestTimeMs: number,
): Promise<void> {
  const fresh = await deps.claimNonce(accessKeyId, nonce, requestTimeMs + deps.maxClockSkewMs);
  if (!fresh) {
    throw new DoppelError(
      "NONCE_REUSED",
      `${field} ${JSON.stringify(nonce)} was already used by access key ${accessKeyId}; this looks like a replayed request. Send a new random nonce with every request`,
    );
  }
}

/** A lowercase HTTP header token (RFC 9110 tchar); every SDK lowercases the names it signs. */
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/**
 * Splits `<ALGORITHM> Name=value, Name=value, …` into its fields. Whitespace around the commas is
 * optional (Huawei writes ", ", Alibaba ","). Every name in `names` must appear exactly once and no
 * other name may appear, so a typo such as `Acess=` is reported as such.
 */
export function parseAuthorizationFields<Name extends string>(
  header: string | undefined,
  algorithm: string,
  names: readonly Name[],
  malformed: (why: string) => DoppelError,
): Record<Name, string> {
  if (header === undefined || header.trim() === "") throw malformed("it is empty or missing");
  const value = header.trim();
  if (!value.startsWith(`${algorithm} `)) throw malformed(`it does not start with "${algorithm} "`);
  const fields = new Map<string, string>();
  for (const part of value.slice(algorithm.length + 1).split(",")) {
    const item = part.trim();
    const eq = item.indexOf("=");
    if (eq <= 0) throw malformed(`the part ${JSON.stringify(item.slice(0, 40))} is not Name=value`);
    const name = item.slice(0, eq);
    if (!(names as readonly string[]).includes(name)) {
      throw malformed(`unknown field ${JSON.stringify(name.slice(0, 40))}`);
    }
    if (fields.has(name)) throw malformed(`field ${name} appears twice`);
    fields.set(name, item.slice(eq + 1));
  }
  const result = {} as Record<Name, string>;
  for (const name of names) {
    const field = fields.get(name);
    if (field === undefined) throw malformed(`the ${name} field is missing`);
    result[name] = field;
  }
  return result;
}

/** Splits a SignedHeaders field (`a;b;c`) into lowercase header names, refusing empty, repeated or odd ones. */
export function parseSignedHeaderList(field: string, malformed: (why: string) => DoppelError): string[] {
  const names = field.split(";");
  const seen = new Set<string>();
  for (const name of names) {
    if (!HEADER_NAME.test(name)) {
      throw malformed(
        `SignedHeaders entry ${JSON.stringify(name.slice(0, 40))} is not a lowercase header name`,
      );
    }
    if (name === "authorization") throw malformed("SignedHeaders cannot include authorization itself");
    if (seen.has(name)) throw malformed(`SignedHeaders lists ${name} twice`);
    seen.add(name);
  }
  return names;
}

const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;

/** Decodes a hex HMAC-SHA256 signature (either case), or fails as malformed. */
export function parseHexSignature(signature: string, malformed: (why: string) => DoppelError): Buffer {
  if (!HEX_SHA256.test(signature)) throw malformed("Signature must be 64 hexadecimal digits");
  return Buffer.from(signature, "hex");
}

/**
 * Builds the canonical header block, one `name:trimmed-value\n` line per name in the given order. A
 * signed header that did not arrive means the request changed in transit, hence a mismatch.
 */
export function canonicalHeaderLines(
  req: Pick<IncomingSignedRequest, "headers">,
  names: readonly string[],
): string {
  let lines = "";
  for (const name of names) {
    const value = headerOf(req, name);
    if (value === undefined) {
      throw new DoppelError(
        "SIGNATURE_MISMATCH",
        `Header ${name} is listed in SignedHeaders but was not received; a proxy may have removed it`,
      );
    }
    lines += `${name}:${value.trim()}\n`;
  }
  return lines;
}
