/**
 * Huawei Cloud `SDK-HMAC-SHA256` (AK/SK) verification, matched against the official Node.js SDK core
 * (`@huaweicloud/huaweicloud-sdk-core`, `auth/AKSKSigner.js`):
 *
 *   CanonicalRequest = METHOD \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n PayloadHash
 *   StringToSign     = "SDK-HMAC-SHA256" \n X-Sdk-Date \n hex(sha256(CanonicalRequest))
 *   Signature        = hex(HMAC-SHA256(SK, StringToSign))
 *
 * CanonicalHeaders is one `name:value\n` line per signed header, so the canonical request has an empty
 * line before SignedHeaders.
 */

import { DoppelError } from "../domain/errors.js";
import { parseRfc3339 } from "../domain/time.js";
import { canonicalQueryFromRaw } from "./percent-encoding.js";
import {
  canonicalUri,
  localeHeaderOrder,
  SDK_HMAC_SHA256,
  type SdkCanonicalParts,
  sdkCanonicalRequest,
  UNSIGNED_PAYLOAD,
} from "./sdk-canonical.js";
import type {
  AccessKeyRecord,
  IncomingSignedRequest,
  Principal,
  SignedRequestHead,
  VerifierDeps,
} from "./signed-request.js";
import {
  assertAccessKeyIdShape,
  assertWithinSkew,
  canonicalHeaderLines,
  headerOf,
  hmac,
  lookupAccessKey,
  parseAuthorizationFields,
  parseHexSignature,
  parseSignedHeaderList,
  sha256Hex,
  signaturesEqual,
} from "./verifier-support.js";

const SDK_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const FORMAT_HINT =
  "expected `SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<a;b;c>, Signature=<64 hex digits>`";

export interface SdkAuthorization {
  readonly accessKeyId: string;
  /** The SignedHeaders field exactly as sent; it goes into the canonical request verbatim. */
  readonly signedHeadersField: string;
  readonly signedHeaders: readonly string[];
  readonly signature: Buffer;
}

/** Verifies a Huawei `SDK-HMAC-SHA256` signed request and returns the access key's principal. */
export async function verifySdkHmacSha256(
  req: IncomingSignedRequest,
  deps: VerifierDeps,
): Promise<Principal> {
  return verifySdkSignature(await checkSdkHead(req, deps), req);
}

/** What the head of a request showed: a well-formed Authorization, a date in the window, a known key. */
export interface SdkCheckedHead {
  readonly auth: SdkAuthorization;
  readonly rawDate: string;
  readonly record: AccessKeyRecord;
}

/**
 * Checks what arrives before the body: the Authorization header's shape, the headers that must be
 * signed, X-Sdk-Date and its skew, and that the access key exists. The signature itself covers the
 * payload hash, so `verifySdkSignature` checks it once the body is read.
 */
export async function checkSdkHead(req: SignedRequestHead, deps: VerifierDeps): Promise<SdkCheckedHead> {
  const auth = parseAuthorization(headerOf(req, "authorization"));
  requireSignedWhenPresent(req, auth.signedHeaders);

  // X-Sdk-Date need not appear in SignedHeaders: the Node SDK signs every header it sets (so it is
  // listed), but the date is bound anyway because StringToSign contains it verbatim. Requiring the
  // listing would only reject SDKs that sign fewer headers, without making anything safer.
  const rawDate = headerOf(req, "x-sdk-date");
  if (rawDate === undefined || rawDate === "") {
    // An incomplete signature, so a credential error (401 in MetaStudio), not a bad parameter (400).
    throw new DoppelError(
      "SIGNATURE_MALFORMED",
      "The X-Sdk-Date header (UTC time as YYYYMMDDTHHMMSSZ) is required with SDK-HMAC-SHA256 signatures",
    );
  }
  const dateMs = parseSdkDate(rawDate);
  // No nonce in this scheme: two identical legitimate calls in the same second (same date, path, query
  // and body) carry the same signature, so a "seen before" check would reject honest repeats. Replays
  // are bounded by the clock-skew window instead.
  assertWithinSkew("X-Sdk-Date", rawDate, dateMs, deps);

  return { auth, rawDate, record: await lookupAccessKey(deps, auth.accessKeyId) };
}

/** Verifies the signature of a request whose head `checkSdkHead` accepted, body included. */
export function verifySdkSignature(head: SdkCheckedHead, req: IncomingSignedRequest): Principal {
  const { auth, rawDate, record } = head;
  const uri = canonicalUri(req.path);
  const query = canonicalQueryFromRaw(req.rawQuery);
  const payloadHash = sdkPayloadHash(req);

  for (const order of headerOrders(auth.signedHeaders)) {
    const stringToSign = sdkStringToSign(rawDate, {
      method: req.method,
      uri,
      query,
      headerLines: canonicalHeaderLines(req, order),
      signedHeadersField: auth.signedHeadersField,
      payloadHash,
    });
    if (signaturesEqual(hmac("sha256", record.secret, stringToSign), auth.signature)) {
      return { projectId: record.projectId, accessKeyId: record.accessKeyId, scheme: SDK_HMAC_SHA256 };
    }
  }
  throw new DoppelError(
    "SIGNATURE_MISMATCH",
    `The SDK-HMAC-SHA256 signature does not match the request. Doppel signed method ${req.method}, canonical URI ${JSON.stringify(uri)}, canonical query ${JSON.stringify(query)}, headers ${auth.signedHeadersField} and payload hash ${payloadHash}, dated ${rawDate}. Check that the secret key belongs to access key ${auth.accessKeyId} and that nothing (a proxy, a retry with a new body) changed the request after it was signed`,
  );
}

/**
 * StringToSign for a request dated `sdkDate` (the X-Sdk-Date value): shared by the verifier and by
 * `signSdkHmacSha256`, so both build the canonical request with the same code.
 */
export function sdkStringToSign(sdkDate: string, parts: SdkCanonicalParts): string {
  return `${SDK_HMAC_SHA256}\n${sdkDate}\n${sha256Hex(sdkCanonicalRequest(parts))}`;
}

/**
 * The payload hash of a request. The Node SDK sends `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD` for
 * non-JSON bodies (uploads) and then signs that literal instead of the body hash. Any other value is
 * ignored: the hash is of the body as sent.
 */
export function sdkPayloadHash(req: Pick<IncomingSignedRequest, "headers" | "body">): string {
  return req.headers["x-sdk-content-sha256"] === UNSIGNED_PAYLOAD ? UNSIGNED_PAYLOAD : sha256Hex(req.body);
}

/**
 * The header orders to try. The listed order is what every SDK uses; the Node SDK alone sorts the
 * canonical header lines with `localeCompare`, which differs from the code-unit order of its
 * SignedHeaders only for names with `_` or digits. Both orders cover exactly the same signed content.
 */
function headerOrders(signed: readonly string[]): readonly (readonly string[])[] {
  const locale = localeHeaderOrder(signed);
  return locale.every((name, i) => name === signed[i]) ? [signed] : [signed, locale];
}

/**
 * Headers that change what a request does. This scheme has no nonce, so a captured request verifies
 * again for 15 minutes; were these unsigned, a replayer could add or change them: a new X-Client-Token
 * per replay would create a new job each time, and an X-App-UserId added to a request that had none
 * would act for an end user of the replayer's choosing. The SDK signs every header it sends, so
 * requiring it costs no client.
 */
const MUST_BE_SIGNED = ["x-client-token", "x-app-userid", "x-project-id"] as const;

function requireSignedWhenPresent(req: SignedRequestHead, signedHeaders: readonly string[]): void {
  for (const name of MUST_BE_SIGNED) {
    if (headerOf(req, name) !== undefined && !signedHeaders.includes(name)) {
      throw malformed(`header ${name} is present but not listed in SignedHeaders; it must be signed`);
    }
  }
}

function parseSdkDate(raw: string): number {
  const m = SDK_DATE.exec(raw);
  // parseRfc3339 also refuses values Date would roll over, such as month 13 or 25:00.
  const ms = m ? parseRfc3339(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`) : undefined;
  if (ms === undefined) {
    throw new DoppelError(
      "TIMESTAMP_MALFORMED",
      `X-Sdk-Date ${JSON.stringify(raw.slice(0, 40))} is not a UTC time of the form YYYYMMDDTHHMMSSZ, e.g. 20240131T080000Z`,
    );
  }
  return ms;
}

function malformed(why: string): DoppelError {
  return new DoppelError(
    "SIGNATURE_MALFORMED",
    `Malformed SDK-HMAC-SHA256 Authorization header: ${why}; ${FORMAT_HINT}`,
  );
}

function parseAuthorization(header: string | undefined): SdkAuthorization {
  const fields = parseAuthorizationFields(
    header,
    SDK_HMAC_SHA256,
    ["Access", "SignedHeaders", "Signature"],
    malformed,
  );
  assertAccessKeyIdShape(fields.Access, "the Access field", malformed);
  return {
    accessKeyId: fields.Access,
    signedHeadersField: fields.SignedHeaders,
    signedHeaders: parseSignedHeaderList(fields.SignedHeaders, malformed),
    signature: parseHexSignature(fields.Signature, malformed),
  };
}
