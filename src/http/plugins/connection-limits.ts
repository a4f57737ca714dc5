import type { IncomingMessage, ServerOptions } from "node:http";
import type { FastifyInstance } from "fastify";
import { DoppelError } from "../../domain/errors.js";

/** How long clients may be silent, and how many connections a process holds (see Config). */
export interface ConnectionLimits {
  readonly idleTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly maxConnections: number;
}

/**
 * Node's own limits, given to the server when it is made. The request head gets a total time limit
 * (`headersTimeout`, like nginx's client_header_timeout): it is at most 16 KiB, so a client that
 * dribbles it is an attack, not a slow link. Node checks that limit on an interval (30 s by default),
 * so the interval is a fraction of the limit. Bodies get no total limit (`requestTimeout: 0`): an
 * upload at any steady speed must finish; `limitConnections` cuts only silence.
 */
export function serverOptions(limits: ConnectionLimits): ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: 0,
    connectionsCheckingInterval: Math.max(100, Math.min(1000, limits.headersTimeoutMs / 4)),
  };
}

/**
 * Caps the connections this process holds (more are closed as they arrive, before any byte is read)
 * and closes a connection whose request body sends nothing for `idleTimeoutMs`.
 *
 * The idle clock runs only while the server waits for the client: from the request head until its
 * body is complete, and only while the server is reading. A socket idle timeout would also fire while
 * the server itself is busy without I/O (assembling gigabytes of parts for CONFIRM_MULTIPART_UPLOADED,
 * or a slow blob store that stopped reading and so paused the socket); that is not the client going
 * silent. Progress is the socket's byte count, which moves even when no one has read the bytes yet.
 */
export function limitConnections(app: FastifyInstance, limits: ConnectionLimits): void {
  const server = app.server;
  server.maxConnections = limits.maxConnections;

  const reading = new Map<IncomingMessage, { bytesRead: number; since: number }>();
  server.on("request", (request: IncomingMessage) => {
    if (!request.complete) reading.set(request, { bytesRead: request.socket.bytesRead, since: Date.now() });
  });
  const sweep = () => {
    const now = Date.now();
    for (const [request, seen] of reading) {
      const socket = request.socket;
      if (request.complete || socket.destroyed) {
        reading.delete(request);
      } else if (socket.bytesRead !== seen.bytesRead || socket.isPaused()) {
        seen.bytesRead = socket.bytesRead;
        seen.since = now;
      } else if (now - seen.since >= limits.idleTimeoutMs) {
        reading.delete(request);
        const seconds = limits.idleTimeoutMs / 1000;
        app.log.info(
          { remote: socket.remoteAddress, url: request.url?.split("?")[0] },
          "idle request body cut",
        );
        // Destroying the request with a 4xx catalog error (rather than the bare socket) makes whatever
        // was reading the body fail with this error, not an "aborted" that would be logged as a 500.
        request.destroy(
          new DoppelError("INVALID_BODY", `The request body stopped arriving: no byte for ${seconds} s`),
        );
      }
    }
  };
  const timer = setInterval(sweep, Math.max(50, Math.min(1000, limits.idleTimeoutMs / 4)));
  timer.unref();
  app.addHook("onClose", async () => clearInterval(timer));

  // Closing closes the connections idle at that moment; one still answering would then idle out the
  // keep-alive timeout (72 s in Fastify) before the close completes. Close each as it falls idle.
  app.addHook("preClose", async () => {
    const closeIdle = setInterval(() => server.closeIdleConnections(), 50);
    server.once("close", () => clearInterval(closeIdle));
  });
}
