import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { PassThrough, type Readable } from "node:stream";
import type { FastifyInstance } from "fastify";

/**
 * A refused request body at most this large is read to its end and dropped, so the keep-alive
 * connection serves the client's next request; a larger one (or one of unknown length) is answered
 * with `Connection: close` instead of making the client upload gigabytes for nothing. Go's net/http
 * draws the same line at 256 KiB.
 */
const DRAIN_MAX_BYTES = 256 * 1024;

/**
 * How long a connection closed under an unread body keeps reading (and dropping) what the client still
 * sends after the answer, before it is closed for good: nginx's lingering close, shortened.
 */
const LINGER_MS = 10_000;

/**
 * The request body as a stream the services may destroy. Services destroy a body they refuse (wrong
 * kind, too large); destroying `request.raw` itself would reset the connection before the 400 or 413
 * could be sent. A cut connection still errors the returned stream. What happens to the rest of a
 * refused body is decided when the answer goes out (`settleUnreadBodies`).
 */
export function detachedBody(raw: IncomingMessage): Readable {
  const body = new PassThrough();
  // The connection can fail (client gone, idle timeout) before a service has started reading: without
  // a listener that error would be thrown as uncaught and end the process. A reader that comes later
  // still gets it, from the destroyed stream.
  body.on("error", () => {});
  raw.on("error", (error) => body.destroy(error));
  raw.on("close", () => {
    if (!raw.complete) body.destroy(new Error("the upload was cut off before its end"));
  });
  body.on("close", () => {
    if (!raw.complete) raw.unpipe(body);
  });
  return raw.pipe(body);
}

/**
 * Answers that go out before their request's body was read (every refused upload, and refusals made
 * from the head alone) must not leave the connection stuck with unread bytes, which would make the
 * client's next request on it hang. A small rest is drained, keeping the connection; anything larger
 * gets `Connection: close` and a lingering close.
 */
export function settleUnreadBodies(app: FastifyInstance): void {
  app.addHook("onSend", async (request, reply, payload) => {
    const raw = request.raw;
    if (raw.complete || raw.destroyed) return payload;
    // Whatever was reading the body is done with it: the answer is going out.
    raw.unpipe();
    const declared = Number(request.headers["content-length"]);
    const closing = String(reply.getHeader("connection") ?? "").toLowerCase() === "close";
    if (!closing && Number.isSafeInteger(declared) && declared <= DRAIN_MAX_BYTES) {
      raw.resume();
      return payload;
    }
    reply.header("Connection", "close");
    lingerBeforeClosing(raw.socket);
    raw.resume();
    return payload;
  });
}

/**
 * Node closes a `Connection: close` socket with `destroySoon()` as soon as the answer is written.
 * Closing a socket with unread bytes in its receive buffer makes the kernel send a reset, which can
 * reach a client still busy sending its body before it has read the answer: it sees ECONNRESET
 * instead of the 413. So the answer is followed by a FIN, and the socket keeps reading (the request
 * is resumed, its bytes dropped) until the client closes its side, goes silent (the idle timeout) or
 * LINGER_MS pass.
 */
function lingerBeforeClosing(socket: Socket): void {
  (socket as Socket & { destroySoon: () => void }).destroySoon = () => {
    socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once("close", () => clearTimeout(timer));
  };
}
