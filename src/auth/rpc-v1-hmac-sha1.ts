/**
 * Alibaba Cloud RPC signature version 1.0 (`SignatureMethod=HMAC-SHA1`), what `@alicloud/openapi-client`
 * sends with `signatureAlgorithm: 'v2'` (`doRPCRequest` + `OpenApiUtil.getRPCSignature`):
 *
 *   Canonicalized = sorted `encode(key)=encode(value)` of every query and form-body parameter but Signature
 *   StringToSign  = METHOD & encode("/") & encode(Canonicalized)
 *   Signature     = base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))
 *
 * Only parameters are signed. The SDK also sends x-acs-action / x-acs-version headers with this scheme,
 * but they are NOT covered: routing must read the Action and Version parameters.
 */

import { DoppelError } from "../domain/errors.js";
import { canonicalQuery, type DecodedPair, encodeRfc3986, parseUrlEncoded } from "./percent-encoding.js";
import type { IncomingSignedRequest, Principal, SignedRequestHead, VerifierDeps } from "./signed-request.js";
import {
  assertAccessKeyIdShape,
  assertWithinSkew,
  claimNonceOnce,
  headerOf,
  hmac,
  lookupAccessKey,
  parseIsoSeconds,
  requireNonce,
  signaturesEqual,
} from "./verifier-support.js";

const FORM_CONTENT_TYPE = "application/x-www-form-urlencoded";
/** Base64 of the 20 bytes of an HMAC-SHA1. */
const BASE64_SHA1 = /^[A-Za-z0-9+/]{27}=$/;

/** Verifies an Alibaba RPC v1 `HMAC-SHA1` signed request, claims its nonce and returns the principal. */
export async function verifyRpcV1HmacSha1(
  req: IncomingSignedRequest,
  deps: VerifierDeps,
): Promise<Principal> {
  const pairs = collectParameters(req);
  const params = new Map(pairs.map((pair) => [pair.key, pair.value]));
  checkCommonParameters(params, deps, "all");
  const signature = parseSignature(required(params, "Signature"));
  const accessKeyId = required(params, "AccessKeyId");
  const nonce = required(params, "SignatureNonce");
  const timestampMs = parseIsoSeconds("Timestamp", required(params, "Timestamp"));

  const record = await lookupAccessKey(deps, accessKeyId);

  const canonicalized = canonicalQuery(pairs.filter((pair) => pair.key !== "Signature"));
  // The SDK always signs the path `/` (RPC has no other); encoding the received path keeps that and
  // makes a request replayed to another path fail.
  const stringToSign = `${req.method}&${encodeRfc3986(req.path === "" ? "/" : req.path)}&${encodeRfc3986(canonicalized)}`;
  // Compared as Base64 text, not decoded bytes: the last Base64 digit has two unused bits, so four
  // spellings decode to the same bytes, and only the one the signer produced should be accepted.
  const expected = Buffer.from(hmac("sha1", `${record.secret}&`, stringToSign).toString("base64"));
  if (!signaturesEqual(expected, Buffer.from(signature))) {
    const pathHint =
      req.path === "/" ? "" : ` RPC signatures are made for path /, but this request went to ${req.path}.`;
    throw new DoppelError(
      "SIGNATURE_MISMATCH",
      `The HMAC-SHA1 Signature does not match the request. Doppel signed ${JSON.stringify(stringToSign)}.${pathHint} Check that the AccessKeySecret belongs to ${accessKeyId} and that no parameter changed after signing`,
    );
  }

  // Only now: a forged request must not be able to use up a real client's nonce.
  await claimNonceOnce(deps, "SignatureNonce", record.accessKeyId, nonce, timestampMs);
  return { projectId: record.projectId, accessKeyId: record.accessKeyId, scheme: "HMAC-SHA1" };
}

/**
 * Checks what the query string shows before a form body arrives: the common parameters it carries
 * (shape, Timestamp within the skew, the access key exists) and that a body on its way is a form (no
 * other body is covered). Parameters in the body, and the signature over all of them, are checked by
 * `verifyRpcV1HmacSha1` once the body is read.
 */
export async function checkRpcV1Head(
  req: SignedRequestHead,
  bodyPending: boolean,
  deps: VerifierDeps,
): Promise<void> {
  if (bodyPending) assertFormBody(req);
  const params = new Map(
    uniqueNames(parseUrlEncoded(req.rawQuery, "query string")).map((p) => [p.key, p.value]),
  );
  checkCommonParameters(params, deps, "present");
  const accessKeyId = params.get("AccessKeyId");
  if (accessKeyId) await lookupAccessKey(deps, accessKeyId);
}

/** Each common parameter's check, in the order they are applied. */
const COMMON_CHECKS: ReadonlyArray<readonly [string, (value: string, deps: VerifierDeps) => void]> = [
  ["Signature", (value) => void parseSignature(value)],
  [
    "AccessKeyId",
    (value) =>
      assertAccessKeyIdShape(
        value,
        "the AccessKeyId parameter",
        (why) => new DoppelError("SIGNATURE_MALFORMED", `Malformed HMAC-SHA1 request: ${why}`),
      ),
  ],
  [
    "SignatureMethod",
    (value) => {
      if (value !== "HMAC-SHA1") {
        throw new DoppelError(
          "SIGNATURE_MALFORMED",
          `SignatureMethod ${JSON.stringify(value.slice(0, 40))} is not supported; RPC signatures must use HMAC-SHA1`,
        );
      }
    },
  ],
  [
    "SignatureVersion",
    (value) => {
      if (value !== "1.0") {
        throw new DoppelError(
          "SIGNATURE_MALFORMED",
          `SignatureVersion ${JSON.stringify(value.slice(0, 40))} is not supported; only 1.0 is`,
        );
      }
    },
  ],
  ["SignatureNonce", (value) => void requireNonce("SignatureNonce", value)],
  [
    "Timestamp",
    (value, deps) => assertWithinSkew("Timestamp", value, parseIsoSeconds("Timestamp", value), deps),
  ],
];

/** Applies COMMON_CHECKS to every common parameter (`all`: each is required) or to those sent. */
function checkCommonParameters(
  params: ReadonlyMap<string, string>,
  deps: VerifierDeps,
  which: "all" | "present",
): void {
  for (const [name, check] of COMMON_CHECKS) {
    const value = params.get(name);
    if (value === undefined || value === "") {
      if (which === "present") continue;
      if (name === "SignatureNonce") requireNonce(name, value);
      required(params, name);
    }
    check(value as string, deps);
  }
}

/**
 * The signed parameters: the query string plus, for a form POST, the body fields (the SDK sends the
 * request body as `application/x-www-form-urlencoded` and signs query and body together).
 */
function collectParameters(req: IncomingSignedRequest): DecodedPair[] {
  const pairs = parseUrlEncoded(req.rawQuery, "query string");
  if (req.body.length > 0) {
    assertFormBody(req);
    pairs.push(...parseUrlEncoded(req.body.toString("utf8"), "form body"));
  }
  return uniqueNames(pairs);
}

/** Refuses a body that is not a form. */
function assertFormBody(req: SignedRequestHead): void {
  const contentType = (headerOf(req, "content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (contentType !== FORM_CONTENT_TYPE) {
    // Any other body is not covered by this signature at all; accepting it would let anyone who sees
    // a signed request swap the body within the replay window.
    throw new DoppelError(
      "SIGNATURE_MALFORMED",
      `An HMAC-SHA1 signed request may only carry a ${FORM_CONTENT_TYPE} body, because no other body is covered by the signature; this one has content-type ${JSON.stringify(contentType ?? "")}`,
    );
  }
}

/**
 * The SDK signs one map, so a name cannot legitimately appear twice. Refusing duplicates also keeps an
 * attacker from adding an unsigned second copy (e.g. a query Action next to a body Action) that a
 * handler might read instead of the signed one.
 */
function uniqueNames(pairs: DecodedPair[]): DecodedPair[] {
  const seen = new Set<string>();
  for (const { key } of pairs) {
    if (seen.has(key)) {
      throw new DoppelError(
        "SIGNATURE_MALFORMED",
        `Parameter ${JSON.stringify(key.slice(0, 60))} appears more than once in the query string and form body; send each parameter once`,
      );
    }
    seen.add(key);
  }
  return pairs;
}

function required(params: ReadonlyMap<string, string>, name: string): string {
  const value = params.get(name);
  if (value === undefined || value === "") {
    throw new DoppelError("MISSING_PARAMETER", `Parameter ${name} is required with HMAC-SHA1 signatures`);
  }
  return value;
}

function parseSignature(raw: string): string {
  // Base64 contains `+`; a client that forgot to percent-encode it sends a bare `+`, which form decoding
  // turned into a space. Base64 never contains spaces, so turning them back is unambiguous.
  const signature = raw.replaceAll(" ", "+");
  if (!BASE64_SHA1.test(signature)) {
    throw new DoppelError(
      "SIGNATURE_MALFORMED",
      `Signature ${JSON.stringify(raw.slice(0, 40))} is not the 28-character Base64 of an HMAC-SHA1`,
    );
  }
  return signature;
}
