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
export function headerOf(req: IncomingSignedRequest, name: string): string | undefined {
  return req.headers[name];
}

/** Access key ids are printable ASCII without `,` (the Authorization field separator), at most 128 chars. */
const ACCESS_KEY_ID = /^[\x21-\x2b\x2d-\x7e]{1,128}$/;

/** Checks the shape of an access key id before it reaches the key store. */
export function assertAccessKeyIdShape(accessKeyId: string, where: string): void {
  if (!ACCESS_KEY_ID.test(accessKeyId)) {
    throw new DoppelError(
      "SIGNATURE_MALFORMED",
      `The access key id in ${where} must be 1 to 128 printable ASCII characters without commas or spaces; got ${JSON.stringify(accessKeyId.slice(0, 40))}`,
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
      field,
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
      field,
    );
  }
  return ms;
}

/** Nonces longer than this are refused so one request cannot bloat the nonce store. */
const MAX_NONCE_LENGTH = 256;

/** Checks that a nonce is present and of sane length; returns it. */
export function requireNonce(field: string, nonce: string | undefined): string {
  if (nonce === undefined || nonce === "") {
    throw new DoppelError(
      "MISSING_PARAMETER",
      `${field} is required: send a new random value with every request so that it cannot be replayed`,
      field,
    );
  }
  if (nonce.length > MAX_NONCE_LENGTH) {
    throw new DoppelError(
      "SIGNATURE_MALFORMED",
      `${field} is ${nonce.length} characters long; at most ${MAX_NONCE_LENGTH} are allowed`,
      field,
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
      field,
    );
  }
}
