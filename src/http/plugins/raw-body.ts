import type { FastifyInstance, FastifyRequest } from "fastify";
import { DoppelError } from "../../domain/errors.js";
import { MAX_JSON_DEPTH, nestsDeeperThan } from "./json-depth.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The body exactly as received: signatures are computed over these bytes, not the parsed form. */
    rawBody?: Buffer;
  }
}

/**
 * Replaces Fastify's body parsers with ones that keep the raw bytes beside the parsed body, because
 * every signing scheme hashes the body as sent. JSON and form bodies are parsed; anything else stays
 * a Buffer.
 */
export function captureRawBodies(app: FastifyInstance, bodyLimit: number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "buffer", bodyLimit }, (request, body, done) => {
    const raw = body as Buffer;
    request.rawBody = raw;
    if (raw.length === 0) return done(null, undefined);
    if (nestsDeeperThan(raw, MAX_JSON_DEPTH)) {
      return done(
        new DoppelError(
          "INVALID_BODY",
          `The request body is JSON nested deeper than ${MAX_JSON_DEPTH} levels`,
        ),
        undefined,
      );
    }
    try {
      done(null, JSON.parse(raw.toString("utf8")));
    } catch {
      done(new DoppelError("INVALID_BODY", "The request body is not valid JSON"), undefined);
    }
  });
  app.addContentTypeParser(
    "application/x-www-form-urlencoded",
    { parseAs: "buffer", bodyLimit },
    (request, body, done) => {
      const raw = body as Buffer;
      request.rawBody = raw;
      done(null, Object.fromEntries(new URLSearchParams(raw.toString("utf8"))));
    },
  );
  app.addContentTypeParser("*", { parseAs: "buffer", bodyLimit }, (request, body, done) => {
    request.rawBody = body as Buffer;
    done(null, body);
  });
}

/** The request as the signature verifiers see it. */
export function signedRequestOf(request: FastifyRequest) {
  const url = request.raw.url ?? "/";
  const queryAt = url.indexOf("?");
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    headers[name] = Array.isArray(value) ? value.join(",") : value;
  }
  return {
    method: request.method,
    path: queryAt === -1 ? url : url.slice(0, queryAt),
    rawQuery: queryAt === -1 ? "" : url.slice(queryAt + 1),
    headers,
    body: request.rawBody ?? Buffer.alloc(0),
  };
}
