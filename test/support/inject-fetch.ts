import type { FastifyInstance } from "fastify";

/**
 * The origin of a test app reached through `app.inject()`. `.invalid` never resolves (RFC 6761), so a
 * request that went to the network by mistake fails at once instead of reaching something else.
 */
export const INJECT_ORIGIN = "http://doppel.invalid";

/** What Node's fetch (undici) sends with every request unless the caller set it. */
const FETCH_HEADERS: Readonly<Record<string, string>> = {
  accept: "*/*",
  "accept-language": "*",
  "sec-fetch-mode": "cors",
  "user-agent": "node",
  "accept-encoding": "gzip, deflate",
};

/** Statuses whose response cannot carry a body (the Response constructor refuses one). */
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/** A request body as fetch would put it on the wire: its bytes and the content type fetch adds. */
function bodyOf(body: RequestInit["body"]): { bytes: Buffer; contentType?: string } | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === "string") return { bytes: Buffer.from(body), contentType: "text/plain;charset=UTF-8" };
  if (body instanceof URLSearchParams) {
    return {
      bytes: Buffer.from(body.toString()),
      contentType: "application/x-www-form-urlencoded;charset=UTF-8",
    };
  }
  if (ArrayBuffer.isView(body)) return { bytes: Buffer.from(body.buffer, body.byteOffset, body.byteLength) };
  if (body instanceof ArrayBuffer) return { bytes: Buffer.from(body) };
  throw new TypeError(
    "The inject fetch takes string, URLSearchParams and byte bodies only; a test that streams a body needs a socket (startTestServer)",
  );
}

/**
 * A `fetch` that answers requests for `origin` with `app.inject()` (same app, hooks and handlers, no
 * socket) and sends any other URL (an S3 bucket's presigned URL, say) to the network. The request is
 * the one fetch would send: the URL resolved the same way (`.` and `..` segments, percent-encoding),
 * fetch's default headers, the content type it adds for string and form bodies, `content-length: 0`
 * on a body-less POST, PUT or PATCH. Redirects are not followed: Doppel sends none.
 *
 * What it cannot show is the connection: the injected request has no socket and no `complete` flag,
 * so a request without a body is answered `Connection: close` (the unread-body settling sees it as
 * unfinished), bodies arrive in one piece, and Node's own HTTP parser (431, malformed heads) never
 * runs. Tests of streaming uploads, keep-alive, timeouts and parser refusals need `listen()` or
 * `startTestServer`.
 */
export function injectFetch(
  app: FastifyInstance,
  origin: string,
): (input: string | URL, init?: RequestInit) => Promise<Response> {
  return async (input, init = {}) => {
    const url = new URL(String(input));
    if (url.origin !== origin) return fetch(url, init);
    const method = (init.method ?? "GET").toUpperCase();
    const body = bodyOf(init.body);
    if (body && (method === "GET" || method === "HEAD")) {
      throw new TypeError(`Request with ${method} method cannot have body.`);
    }
    const headers: Record<string, string> = { ...FETCH_HEADERS, host: url.host };
    if (body?.contentType) headers["content-type"] = body.contentType;
    for (const [name, value] of new Headers(init.headers)) headers[name] = value;
    const payload = body?.bytes ?? (["POST", "PUT", "PATCH"].includes(method) ? Buffer.alloc(0) : undefined);
    const res = await app.inject({
      method: method as "GET",
      url: url.pathname + url.search,
      headers,
      ...(payload && { payload }),
    });
    const answer = new Headers();
    for (const [name, value] of Object.entries(res.headers)) {
      if (value === undefined) continue;
      for (const one of Array.isArray(value) ? value : [value]) answer.append(name, String(one));
    }
    return new Response(NULL_BODY_STATUSES.has(res.statusCode) ? null : res.rawPayload, {
      status: res.statusCode,
      statusText: res.statusMessage,
      headers: answer,
    });
  };
}
