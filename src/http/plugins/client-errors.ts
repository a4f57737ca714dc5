import { randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import { DoppelError } from "../../domain/errors.js";
import { dialectOf } from "../dialects/dialect.js";
import { iceError } from "../dialects/ice/envelope.js";
import { metaStudioError } from "../dialects/metastudio/envelope.js";

/**
 * Requests Node's HTTP parser rejects (headers or URL over 16 KiB, broken framing, a head too slow) never reach
 * Fastify's routes. Node's default answer is a bare 400/431; this answers in the dialect the request
 * line points at, so an SDK still gets an error it can parse.
 */
export function answerClientError(
  error: Error & { code?: string; rawPacket?: unknown },
  socket: Socket,
): void {
  // A request head that did not arrive in time (`headersTimeout`) has no path yet, so no dialect and
  // nothing to answer: the connection is closed without an answer, as nginx does on
  // client_header_timeout.
  if (!socket.writable || error.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    socket.destroy();
    return;
  }
  const tooLarge = error.code === "HPE_HEADER_OVERFLOW";
  const status = tooLarge ? 431 : 400;
  const doppel = new DoppelError(
    "INVALID_PARAMETER",
    tooLarge ? "The request line and headers are larger than 16 KiB" : "The request is not well-formed HTTP",
  );
  const requestId = randomUUID();
  const head = Buffer.isBuffer(error.rawPacket) ? error.rawPacket.toString("latin1", 0, 64) : "";
  const path = /^[A-Z]+ (\S+)/.exec(head)?.[1] ?? "/";
  const { body } =
    dialectOf(path) === "metastudio"
      ? metaStudioError(doppel)
      : iceError(doppel, requestId.toUpperCase(), "doppel");
  const payload = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${tooLarge ? "Request Header Fields Too Large" : "Bad Request"}\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n` +
      `X-Request-Id: ${requestId.replaceAll("-", "")}\r\nConnection: close\r\n\r\n${payload}`,
  );
}
