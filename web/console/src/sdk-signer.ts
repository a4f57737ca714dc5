/**
 * Huawei's SDK-HMAC-SHA256 in the browser, for signing in with an access key: the canonical request
 * is built by the same code as the server's verifier and the Node signer (src/auth/sdk-canonical.ts);
 * only the hashing is the browser's own (WebCrypto). Signs `host`, `x-sdk-date` and the headers given.
 */
import { canonicalQueryFromRaw } from "../../../src/auth/percent-encoding.js";
import {
  canonicalUri,
  formatSdkDate,
  localeHeaderOrder,
  SDK_HMAC_SHA256,
  sdkCanonicalRequest,
} from "../../../src/auth/sdk-canonical.js";

export interface AccessKey {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

const encoder = new TextEncoder();

const hex = (bytes: ArrayBuffer) =>
  [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");

const sha256Hex = async (text: string) => hex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));

async function hmacSha256Hex(key: string, text: string): Promise<string> {
  const imported = await crypto.subtle.importKey(
    "raw",
    encoder.encode(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return hex(await crypto.subtle.sign("HMAC", imported, encoder.encode(text)));
}

/** The headers to send with a request to `url`: those given, `X-Sdk-Date` and the `Authorization`. */
export async function sdkSignedHeaders(
  request: {
    readonly method: string;
    readonly url: URL;
    readonly headers: Readonly<Record<string, string>>;
    readonly body?: string;
  },
  key: AccessKey,
  now: number,
): Promise<Record<string, string>> {
  const sent: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) sent[name.toLowerCase()] = value.trim();
  sent["x-sdk-date"] = formatSdkDate(now);
  const signed = { ...sent, host: request.url.host };
  const names = Object.keys(signed).sort();
  const canonical = sdkCanonicalRequest({
    method: request.method.toUpperCase(),
    uri: canonicalUri(request.url.pathname),
    query: canonicalQueryFromRaw(request.url.search.slice(1)),
    headerLines: localeHeaderOrder(names)
      .map((name) => `${name}:${signed[name as keyof typeof signed]}\n`)
      .join(""),
    signedHeadersField: names.join(";"),
    payloadHash: await sha256Hex(request.body ?? ""),
  });
  const stringToSign = `${SDK_HMAC_SHA256}\n${sent["x-sdk-date"]}\n${await sha256Hex(canonical)}`;
  const signature = await hmacSha256Hex(key.secretAccessKey, stringToSign);
  return {
    ...sent,
    authorization: `${SDK_HMAC_SHA256} Access=${key.accessKeyId}, SignedHeaders=${names.join(";")}, Signature=${signature}`,
  };
}
