/**
 * RFC 3986 percent-encoding as the three signing schemes use it, and canonical query building.
 *
 * A verifier never signs the query string it received: clients put different bytes on the wire for the
 * same value (the Huawei SDK sends `'`, `!`, `*`, `(` raw, Alibaba's tea layer escapes `'`, Java clients
 * send a space as `+`), but every SDK signs its *unencoded* values re-encoded with the strict RFC 3986
 * rule. So the verifier decodes each received pair and re-encodes it the way the signer did.
 */

import { DoppelError } from "../domain/errors.js";

/** Characters `encodeURIComponent` leaves alone but RFC 3986 reserves; the SDKs escape them. */
const SUB_DELIMS_LEFT_BY_JS = /[!'()*]/g;

/**
 * Percent-encodes everything except the RFC 3986 unreserved set `A-Z a-z 0-9 - _ . ~`, as UTF-8 with
 * upper-case hex. This is Huawei's `AKSKSigner.urlEncode` and Alibaba's `OpenApiUtil` `encode` (space is
 * `%20`, never `+`; `~` stays).
 */
export function encodeRfc3986(value: string): string {
  let encoded: string;
  try {
    encoded = encodeURIComponent(value);
  } catch {
    // Only an unpaired UTF-16 surrogate makes encodeURIComponent throw; no SDK can have signed that.
    throw new DoppelError(
      "SIGNATURE_MALFORMED",
      `The request contains text that is not valid Unicode (an unpaired surrogate) near ${JSON.stringify(value.slice(0, 40))}`,
    );
  }
  return encoded.replace(SUB_DELIMS_LEFT_BY_JS, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** One decoded `key=value` pair of a query string or form body. */
export interface DecodedPair {
  readonly key: string;
  readonly value: string;
}

/**
 * Splits a raw `application/x-www-form-urlencoded` string (a query string or a form body) into decoded
 * pairs, in order. `+` means a space, as in every form decoder: SDKs that follow RFC 3986 send a literal
 * plus as `%2B`, so only clients that form-encode (space as `+`) put a bare `+` on the wire. A piece
 * without `=` is a key with an empty value; empty pieces (`a=1&&b=2`) are skipped, as `querystring` does.
 * `where` names the source in error messages ("query string", "form body").
 */
export function parseUrlEncoded(raw: string, where: string): DecodedPair[] {
  const pairs: DecodedPair[] = [];
  if (raw === "") return pairs;
  for (const piece of raw.split("&")) {
    if (piece === "") continue;
    const eq = piece.indexOf("=");
    const rawKey = eq === -1 ? piece : piece.slice(0, eq);
    const rawValue = eq === -1 ? "" : piece.slice(eq + 1);
    pairs.push({
      key: decodeComponent(rawKey, piece, where),
      value: decodeComponent(rawValue, piece, where),
    });
  }
  return pairs;
}

function decodeComponent(raw: string, piece: string, where: string): string {
  const spaced = raw.replaceAll("+", " ");
  try {
    return decodeURIComponent(spaced);
  } catch {
    // A stray `%`, a bad hex digit or percent-escapes that are not UTF-8: the client cannot have signed
    // what we would reconstruct, so say so instead of reporting a confusing signature mismatch.
    throw new DoppelError(
      "SIGNATURE_MALFORMED",
      `The ${where} has a badly percent-encoded part ${JSON.stringify(piece.slice(0, 80))}: every % must be followed by two hex digits and the escapes must form UTF-8`,
    );
  }
}

/** Orders strings by UTF-16 code units, the order of JavaScript's default `sort()` and Java's `compareTo`. */
function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Builds a canonical query string: pairs sorted by decoded key then decoded value (the SDKs sort their
 * unencoded keys, and Huawei sorts the values of a repeated key), each written `encode(key)=encode(value)`
 * and joined with `&`. An empty list gives the empty string.
 */
export function canonicalQuery(pairs: readonly DecodedPair[]): string {
  return [...pairs]
    .sort((a, b) => compareCodeUnits(a.key, b.key) || compareCodeUnits(a.value, b.value))
    .map((pair) => `${encodeRfc3986(pair.key)}=${encodeRfc3986(pair.value)}`)
    .join("&");
}

/** Canonical query of a raw (still percent-encoded) query string: decode every pair, re-encode, sort. */
export function canonicalQueryFromRaw(rawQuery: string): string {
  return canonicalQuery(parseUrlEncoded(rawQuery, "query string"));
}
