/**
 * Alibaba Cloud V3 `ACS3-HMAC-SHA256` verification, matched against `@alicloud/openapi-client`
 * (`doRequest`) and `@alicloud/openapi-util` (`getAuthorization`):
 *
 *   CanonicalRequest = METHOD \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n x-acs-content-sha256
 *   StringToSign     = "ACS3-HMAC-SHA256" \n hex(sha256(CanonicalRequest))
 *   Signature        = hex(HMAC-SHA256(AccessKeySecret, StringToSign))
 *
 * Unlike Huawei's scheme the date is not part of StringToSign, so x-acs-date and x-acs-signature-nonce
 * are only protected by being signed headers.
 */

import { DoppelError } from "../domain/errors.js";
import { canonicalQueryFromRaw } from "./percent-encoding.js";
import type { IncomingSignedRequest, Principal, SignedRequestHead, VerifierDeps } from "./signed-request.js";
import {
  assertAccessKeyIdShape,
  assertWithinSkew,
  canonicalHeaderLines,
  claimNonceOnce,
  headerOf,
  hmac,
  lookupAccessKey,
  parseAuthorizationFields,
  parseHexSignature,
  parseIsoSeconds,
  parseSignedHeaderList,
  requireNonce,
  sha256Hex,
  signaturesEqual,
} from "./verifier-support.js";

const ALGORITHM = "ACS3-HMAC-SHA256";
const FORMAT_HINT =
  "expected `ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<a;b;c>,Signature=<64 hex digits>`";

interface Acs3Authorization {
  readonly accessKeyId: string;
  readonly signedHeadersField: string;
  readonly signedHeaders: readonly string[];
  readonly signature: Buffer;
}

/** Verifies an Alibaba V3 `ACS3-HMAC-SHA256` signed request, claims its nonce and returns the principal. */
export async function verifyAcs3HmacSha256(
  req: IncomingSignedRequest,
  deps: VerifierDeps,
): Promise<Principal> {
  return finishAcs3HmacSha256(await verifyAcs3Signature(req, deps), req.body, deps);
}

/** A request whose signature verified from its head; its body and nonce are still to be checked. */
export interface Acs3SignedHead {
  readonly principal: Principal;
  readonly accessKeyId: string;
  /** The x-acs-content-sha256 the signature covers: the hash the body must have. */
  readonly contentSha256: string;
  readonly nonce: string;
  readonly dateMs: number;
}

/**
 * Verifies everything but the body: the signature covers x-acs-content-sha256 (a signed header and the
 * canonical request's last line), so it can be checked before the body is read. Claims nothing yet;
 * `finishAcs3HmacSha256` checks the body against that hash and then claims the nonce.
 */
export async function verifyAcs3Signature(
  req: SignedRequestHead,
  deps: VerifierDeps,
): Promise<Acs3SignedHead> {
  const auth = parseAuthorization(headerOf(req, "authorization"));

  const rawDate = requireHeader(req, "x-acs-date", "UTC time as yyyy-MM-ddTHH:mm:ssZ");
  const nonce = requireNonce("x-acs-signature-nonce", headerOf(req, "x-acs-signature-nonce")?.trim());
  const contentSha = requireHeader(req, "x-acs-content-sha256", "hex SHA-256 of the body").trim();

  // Every x-acs-* header must be signed (the SDK always signs them all): they carry the action, version,
  // date, nonce and body hash. An unsigned x-acs-date or nonce could be rewritten to replay
  // the request; an unsigned x-acs-action could turn it into another operation.
  const signed = new Set(auth.signedHeaders);
  for (const name of Object.keys(req.headers)) {
    if (name.startsWith("x-acs-") && req.headers[name] !== undefined && !signed.has(name)) {
      throw malformed(
        `header ${name} is present but not listed in SignedHeaders; every x-acs-* header must be signed`,
      );
    }
  }

  const dateMs = parseIsoSeconds("x-acs-date", rawDate);
  assertWithinSkew("x-acs-date", rawDate, dateMs, deps);

  const record = await lookupAccessKey(deps, auth.accessKeyId);

  const uri = canonicalUri(req.path);
  // Names and values are both RFC 3986 encoded, as Alibaba's V3 documentation specifies. openapi-util
  // 0.3.x encodes only the values, but the two agree for every name an SDK sends (letters, digits, `.`
  // of flattened lists such as `Tags.1.Key`), and raw names would make `a%3D1%26b=2` canonicalize
  // like `a=1&b=2`.
  const query = canonicalQueryFromRaw(req.rawQuery);
  // The SDK signs the hash it sends in x-acs-content-sha256 (lowercase hex); the body is held to it later.
  const bodyHash = contentSha.toLowerCase();
  const canonicalRequest = [
    req.method,
    uri,
    query,
    canonicalHeaderLines(req, auth.signedHeaders),
    auth.signedHeadersField,
    bodyHash,
  ].join("\n");
  const stringToSign = `${ALGORITHM}\n${sha256Hex(canonicalRequest)}`;
  if (!signaturesEqual(hmac("sha256", record.secret, stringToSign), auth.signature)) {
    throw new DoppelError(
      "SIGNATURE_MISMATCH",
      `The ACS3-HMAC-SHA256 signature does not match the request. Doppel signed method ${req.method}, canonical URI ${JSON.stringify(uri)}, canonical query ${JSON.stringify(query)}, headers ${auth.signedHeadersField} and body hash ${bodyHash}. Check that the AccessKeySecret belongs to ${auth.accessKeyId} and that nothing changed the request after it was signed`,
    );
  }
  return {
    principal: { projectId: record.projectId, accessKeyId: record.accessKeyId, scheme: ALGORITHM },
    accessKeyId: record.accessKeyId,
    contentSha256: bodyHash,
    nonce,
    dateMs,
  };
}

/** Checks the body against the signed x-acs-content-sha256, then claims the nonce. */
export async function finishAcs3HmacSha256(
  head: Acs3SignedHead,
  body: Buffer,
  deps: VerifierDeps,
): Promise<Principal> {
  const bodyHash = sha256Hex(body);
  if (head.contentSha256 !== bodyHash) {
    throw new DoppelError(
      "SIGNATURE_MISMATCH",
      `x-acs-content-sha256 is ${JSON.stringify(head.contentSha256.slice(0, 80))} but the SHA-256 of the ${body.length}-byte body received is ${bodyHash}; the body changed after signing or the client hashed something else`,
    );
  }
  // Only now: a request with a bad signature or body must not be able to use up a real client's nonce.
  await claimNonceOnce(deps, "x-acs-signature-nonce", head.accessKeyId, head.nonce, head.dateMs);
  return head.principal;
}

/**
 * The canonical URI is the path as sent (already percent-encoded; `/` for every RPC action), with the
 * three fix-ups `getAuthorization` applies: `+` → `%20`, `*` → `%2A`, `%7E` → `~`. (The SDK replaces
 * only the first occurrence of each, an evident slip; ICE's RPC path `/` has none.)
 */
function canonicalUri(path: string): string {
  return (path === "" ? "/" : path).replaceAll("+", "%20").replaceAll("*", "%2A").replaceAll("%7E", "~");
}

function requireHeader(req: SignedRequestHead, name: string, what: string): string {
  const value = headerOf(req, name);
  if (value === undefined || value.trim() === "") {
    throw new DoppelError(
      "MISSING_PARAMETER",
      `The ${name} header (${what}) is required with ACS3-HMAC-SHA256 signatures`,
    );
  }
  return value.trim();
}

function malformed(why: string): DoppelError {
  return new DoppelError(
    "SIGNATURE_MALFORMED",
    `Malformed ACS3-HMAC-SHA256 Authorization: ${why}; ${FORMAT_HINT}`,
  );
}

function parseAuthorization(header: string | undefined): Acs3Authorization {
  const fields = parseAuthorizationFields(
    header,
    ALGORITHM,
    ["Credential", "SignedHeaders", "Signature"],
    malformed,
  );
  assertAccessKeyIdShape(fields.Credential, "the Credential field", malformed);
  return {
    accessKeyId: fields.Credential,
    signedHeadersField: fields.SignedHeaders,
    signedHeaders: parseSignedHeaderList(fields.SignedHeaders, malformed),
    signature: parseHexSignature(fields.Signature, malformed),
  };
}
