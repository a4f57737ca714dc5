import type { IncomingMessage, ServerOptions, ServerResponse } from "node:http";
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
 * and closes a connection that goes silent for `idleTimeoutMs`: a request body that sends nothing, or
 * a client that takes no byte of its answer (a download whose reader stopped, which would otherwise
 * hold its socket and open file for as long as the client likes).
 *
 * The idle clock runs only while the server waits for the client: from the request head until its
 * body is complete, and only while the server is reading; and while an answer has bytes waiting that
 * the client does not take. A socket idle timeout would also fire while the server itself is busy
 * without I/O (assembling gigabytes of parts for CONFIRM_MULTIPART_UPLOADED, a slow blob store that
 * stopped reading and so paused the socket, or a blob store slow to produce a download's next bytes);
 * that is not the client going silent. Progress is the socket's byte counts, which move even when no
 * one has read the bytes yet.
 */
export function limitConnections(app: FastifyInstance, limits: ConnectionLimits): void {
  const server = app.server;
  server.maxConnections = limits.maxConnections;
  const seconds = limits.idleTimeoutMs / 1000;

  const reading = new Map<IncomingMessage, { bytesRead: number; since: number }>();
  const writing = new Map<ServerResponse, WriteProgress>();
  server.on("request", (request: IncomingMessage, response: ServerResponse) => {
    if (!request.complete) reading.set(request, { bytesRead: request.socket.bytesRead, since: Date.now() });
    writing.set(response, { written: -1, buffered: -1, since: Date.now() });
    const done = () => writing.delete(response);
    response.once("finish", done);
    response.once("close", done);
  });
  const interval = Math.max(50, Math.min(1000, limits.idleTimeoutMs / 4));
  let lastSweep = Date.now();
  const sweep = () => {
    const now = Date.now();
    // A sweep far later than its interval means this process did not run (a GC pause, a loaded
    // machine): no I/O was handled, so no client could be seen making progress. That time is not the
    // client's silence; move every clock forward by it.
    const frozen = now - lastSweep - interval;
    lastSweep = now;
    if (frozen > interval) {
      for (const seen of reading.values()) seen.since += frozen;
      for (const seen of writing.values()) seen.since += frozen;
    }
    for (const [request, seen] of reading) {
      const socket = request.socket;
      if (request.complete || socket.destroyed) {
        reading.delete(request);
      } else if (socket.bytesRead !== seen.bytesRead || socket.isPaused()) {
        seen.bytesRead = socket.bytesRead;
        seen.since = now;
      } else if (now - seen.since >= limits.idleTimeoutMs) {
        reading.delete(request);
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
    for (const [response, seen] of writing) {
      if (writeStalled(response, seen, now, limits.idleTimeoutMs)) {
        writing.delete(response);
        app.log.info(
          { remote: response.socket?.remoteAddress, url: response.req.url?.split("?")[0] },
          `answer cut: the client took no byte of it for ${seconds} s`,
        );
        // The response closes with its socket, and whatever was streaming into it is destroyed with it
        // (Fastify destroys a stream payload whose response closed early): the file is closed.
        response.socket?.destroy();
      }
    }
  };
  const timer = setInterval(sweep, interval);
  timer.unref();
  app.addHook("onClose", async () => clearInterval(timer));

  // Closing closes the connections idle at that moment; one still answering would then idle out the
  // keep-alive timeout (72 s in Fastify) before the close completes. Close each as it falls idle.
  app.addHook("preClose", async () => {
    const closeIdle = setInterval(() => server.closeIdleConnections(), 50);
    server.once("close", () => clearInterval(closeIdle));
  });
}

/** What a sweep last saw of an answer being written, and since when it has not moved. */
interface WriteProgress {
  written: number;
  buffered: number;
  since: number;
}

/**
 * Whether `response` has had bytes waiting for the client for `timeoutMs` without the client taking
 * any. `bytesWritten` counts what was handed to the socket and `writableLength` what of it has not yet
 * reached the kernel; while the client reads, one of them moves. Nothing waiting (the answer not yet
 * started, or its source slow) is never a stall.
 */
function writeStalled(
  response: ServerResponse,
  seen: WriteProgress,
  now: number,
  timeoutMs: number,
): boolean {
  const socket = response.socket;
  if (socket === null || socket.destroyed) return false;
  const written = socket.bytesWritten;
  const buffered = socket.writableLength;
  if (buffered === 0 || written !== seen.written || buffered !== seen.buffered) {
    seen.written = written;
    seen.buffered = buffered;
    seen.since = now;
    return false;
  }
  return now - seen.since >= timeoutMs;
}
