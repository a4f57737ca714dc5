/**
 * Which credential scheme a request uses, decided from its shape only (nothing is verified here), so
 * the caller can hand it to the right verifier or report that no credentials were sent.
 */

import type { IncomingSignedRequest, Principal } from "./signed-request.js";

export type SchemeName = Principal["scheme"];

const AUTHORIZATION_SCHEMES: readonly SchemeName[] = ["SDK-HMAC-SHA256", "ACS3-HMAC-SHA256"];
const FORM_CONTENT_TYPE = "application/x-www-form-urlencoded";

/**
 * Detects the scheme: an Authorization header naming a signing algorithm wins, then an `X-Auth-Token`
 * header, then RPC `Signature` + `SignatureMethod` parameters (query string or form body). Returns
 * undefined when the request carries none of these. Never throws.
 */
export function detectScheme(
  req: Pick<IncomingSignedRequest, "headers" | "rawQuery" | "body">,
): SchemeName | undefined {
  // The algorithm name is matched case-insensitively so that `sdk-hmac-sha256 …` reaches the verifier,
  // which then explains what is wrong, instead of being reported as "no credentials".
  const algorithm = req.headers.authorization?.trim().split(/\s/, 1)[0]?.toUpperCase();
  const fromAuthorization = AUTHORIZATION_SCHEMES.find((scheme) => scheme === algorithm);
  if (fromAuthorization) return fromAuthorization;

  if ((req.headers["x-auth-token"] ?? "").trim() !== "") return "TOKEN";

  const names = parameterNames(req.rawQuery);
  const contentType = req.headers["content-type"]?.split(";")[0]?.trim().toLowerCase();
  if (contentType === FORM_CONTENT_TYPE && req.body.length > 0) {
    for (const name of parameterNames(req.body.toString("utf8"))) names.add(name);
  }
  if (names.has("Signature") && names.has("SignatureMethod")) return "HMAC-SHA1";
  return undefined;
}

/** The decoded names in a url-encoded string; undecodable names are skipped (the verifier reports them). */
function parameterNames(raw: string): Set<string> {
  const names = new Set<string>();
  for (const piece of raw.split("&")) {
    const eq = piece.indexOf("=");
    const rawName = (eq === -1 ? piece : piece.slice(0, eq)).replaceAll("+", " ");
    try {
      names.add(decodeURIComponent(rawName));
    } catch {
      // Not percent-decodable: cannot be one of the names we look for.
    }
  }
  return names;
}
