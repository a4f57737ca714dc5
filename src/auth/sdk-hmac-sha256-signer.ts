/**
 * Signs requests with Huawei Cloud `SDK-HMAC-SHA256`, producing what the official Node.js SDK core
 * (`@huaweicloud/huaweicloud-sdk-core`, `AKSKSigner.sign` as `BasicCredentials` drives it) produces for
 * the same request. The canonical request is built by the same code the verifier uses
 * (`sdk-hmac-sha256.ts`), from the request exactly as it will arrive, so whatever this signs verifies.
 *
 * Signed: every header passed in plus `host` and `x-sdk-date` (the SDK signs all the headers it has set
 * before signing: `content-type`, `x-project-id`, and any caller headers such as `x-app-userid`).
 */

import { canonicalQueryFromRaw } from "./percent-encoding.js";
import {
  canonicalUri,
  formatSdkDate,
  localeHeaderOrder,
  SDK_HMAC_SHA256,
  UNSIGNED_PAYLOAD,
} from "./sdk-canonical.js";
import { sdkPayloadHash, sdkStringToSign } from "./sdk-hmac-sha256.js";
import type { IncomingSignedRequest } from "./signed-request.js";
import { canonicalHeaderLines, hmac } from "./verifier-support.js";

export interface SdkCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface RequestToSign {
  readonly method: string;
  /** The absolute URL exactly as it will be sent (path and query already percent-encoded). */
  readonly url: URL | string;
  /**
   * Headers to send and sign besides `host` and `X-Sdk-Date`: typically `Content-Type` and
   * `X-Project-Id`. A `host` given here is signed instead of the URL's (a proxy setup); it is not
   * returned, so the HTTP client must send that host itself.
   */
  readonly headers?: Readonly<Record<string, string>>;
  /** The body bytes as they will be sent (a string is sent as UTF-8); none for GET and DELETE. */
  readonly body?: string | Uint8Array;
  /**
   * Sign the literal `UNSIGNED-PAYLOAD` instead of the body hash, and send it as
   * `X-Sdk-Content-Sha256` (what the SDK does for non-JSON bodies, so large uploads need not be hashed
   * first). The body is then not covered by the signature.
   */
  readonly unsignedPayload?: boolean;
  /** The signing time; now when absent. Sent as X-Sdk-Date, which the server checks against its clock. */
  readonly date?: Date | number;
}

export interface SignedSdkRequest {
  /**
   * The headers to send: the given ones (lowercased, trimmed), `x-sdk-date`, `authorization` and, for an
   * unsigned payload, `x-sdk-content-sha256`. Not `host`: HTTP clients set it from the URL.
   */
  readonly headers: Record<string, string>;
  /** The SignedHeaders field, e.g. `content-type;host;x-project-id;x-sdk-date`. */
  readonly signedHeaders: string;
  /** The hex signature. */
  readonly signature: string;
  /** The X-Sdk-Date value. */
  readonly sdkDate: string;
}

/** HTTP header names (RFC 9110 tokens). */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/** Signs a request as Huawei's SDK would; returns the headers to send with it. */
export function signSdkHmacSha256(request: RequestToSign, credentials: SdkCredentials): SignedSdkRequest {
  const url = typeof request.url === "string" ? new URL(request.url) : request.url;
  if (credentials.accessKeyId === "" || credentials.secretAccessKey === "") {
    throw new Error("SDK-HMAC-SHA256 signing needs an access key id and a secret access key");
  }
  const sdkDate = formatSdkDate(request.date ?? Date.now());

  const sent: Record<string, string> = {};
  for (const [rawName, rawValue] of Object.entries(request.headers ?? {})) {
    const name = rawName.toLowerCase();
    if (!HEADER_NAME.test(rawName)) throw new Error(`${JSON.stringify(rawName)} is not a header name`);
    if (name === "authorization" || name === "x-sdk-date") {
      throw new Error(`the signer sets ${rawName} itself; do not pass it`);
    }
    if (name in sent) throw new Error(`header ${name} given twice`);
    sent[name] = rawValue.trim();
  }
  if (request.unsignedPayload) sent["x-sdk-content-sha256"] = UNSIGNED_PAYLOAD;
  sent["x-sdk-date"] = sdkDate;
  const host = sent.host ?? url.host;
  delete sent.host;

  // The request as the server will see it: the verifier's own canonical code then applies unchanged.
  const arriving: IncomingSignedRequest = {
    method: request.method.toUpperCase(),
    path: url.pathname,
    rawQuery: url.search.slice(1),
    headers: { ...sent, host },
    body: request.body === undefined ? Buffer.alloc(0) : Buffer.from(request.body),
  };
  // The SDK lists SignedHeaders in code-unit order but writes the canonical lines in localeCompare
  // order; both are reproduced so the signature is byte-for-byte the SDK's.
  const names = Object.keys(arriving.headers).sort();
  const signedHeaders = names.join(";");
  const stringToSign = sdkStringToSign(sdkDate, {
    method: arriving.method,
    uri: canonicalUri(arriving.path),
    query: canonicalQueryFromRaw(arriving.rawQuery),
    headerLines: canonicalHeaderLines(arriving, localeHeaderOrder(names)),
    signedHeadersField: signedHeaders,
    payloadHash: sdkPayloadHash(arriving),
  });
  const signature = hmac("sha256", credentials.secretAccessKey, stringToSign).toString("hex");
  return {
    headers: {
      ...sent,
      authorization: `${SDK_HMAC_SHA256} Access=${credentials.accessKeyId}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    },
    signedHeaders,
    signature,
    sdkDate,
  };
}
