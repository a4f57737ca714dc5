import { type LookupAddress, lookup } from "node:dns";
import type { LookupFunction } from "node:net";
import ipaddr from "ipaddr.js";
import { invalidParameter } from "../domain/errors.js";

/**
 * Keeps webhooks from reaching into the network Doppel runs in (SSRF): a URL whose host is, or
 * resolves to, a private, loopback, link-local or otherwise non-public address is refused unless one
 * of the configured CIDR ranges (DOPPEL_WEBHOOK_ALLOW_NETWORKS) holds it. Checked when a webhook is
 * saved, and again on every connection (the `lookup` below), so a name that later resolves elsewhere
 * (DNS rebinding) is refused too.
 */

/** Whether `address` may be connected to: public unicast, or inside an allowed range. */
export function addressAllowed(address: string, allowedNetworks: readonly string[]): boolean {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.process(address);
  } catch {
    return false;
  }
  for (const network of allowedNetworks) {
    const [range, bits] = ipaddr.parseCIDR(network);
    if (range.kind() === parsed.kind() && parsed.match(range, bits)) return true;
  }
  return parsed.range() === "unicast";
}

/** The longest callback URL accepted (ICE allows 256 bytes; Doppel's webhooks more). */
export const MAX_URL_LENGTH = 2048;

/**
 * Parses and checks a webhook URL: http or https, no user name or password (they would be logged and
 * shown), and every address its host resolves to allowed. Throws INVALID_PARAMETER naming `parameter`.
 */
export async function checkWebhookUrl(
  parameter: string,
  raw: string,
  allowedNetworks: readonly string[],
  maxLength = MAX_URL_LENGTH,
): Promise<URL> {
  if (Buffer.byteLength(raw) > maxLength) throw invalidParameter(parameter, `longer than ${maxLength} bytes`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalidParameter(parameter, "not a URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw invalidParameter(parameter, "must be an http:// or https:// URL");
  }
  if (url.username !== "" || url.password !== "") {
    throw invalidParameter(parameter, "must not carry a user name or password");
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  let addresses: LookupAddress[];
  try {
    addresses = await lookupAll(host);
  } catch {
    throw invalidParameter(parameter, `its host ${host} does not resolve`);
  }
  const refused = addresses.find((a) => !addressAllowed(a.address, allowedNetworks));
  if (refused !== undefined) {
    throw invalidParameter(
      parameter,
      `its host ${host} is ${refused.address}, a private, loopback or link-local address; an operator can allow it with DOPPEL_WEBHOOK_ALLOW_NETWORKS`,
    );
  }
  return url;
}

function lookupAll(host: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) =>
    lookup(host, { all: true }, (error, addresses) => (error ? reject(error) : resolve(addresses))),
  );
}

/** A `lookup` for outgoing requests that refuses addresses `addressAllowed` refuses. */
export function guardedLookup(allowedNetworks: readonly string[]): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, "", 0);
      const list = addresses as LookupAddress[];
      const refused = list.find((a) => !addressAllowed(a.address, allowedNetworks));
      if (refused !== undefined || list.length === 0) {
        const why = Object.assign(
          new Error(`address ${refused?.address ?? "(none)"} of ${hostname} is not allowed`),
          {
            code: "EADDRNOTALLOWED",
          },
        );
        return callback(why, "", 0);
      }
      if (options.all) return (callback as (e: null, a: LookupAddress[]) => void)(null, list);
      const first = list[0] as LookupAddress;
      callback(null, first.address, first.family);
    });
  };
}
