import type { FastifyError } from "fastify";
import { DoppelError, isDoppelError } from "../../domain/errors.js";

/**
 * Turns whatever a route or Fastify itself threw into a catalog error, so dialects only ever present
 * DoppelErrors. Fastify's own errors for bad input (schema validation, bad content type, body too
 * large, malformed URL) become 4xx catalog errors; anything else is INTERNAL.
 */
export function toDoppelError(error: unknown): DoppelError {
  if (isDoppelError(error)) return error;
  const e = error as Partial<FastifyError> & {
    validation?: Array<{ instancePath?: string; params?: Record<string, unknown>; message?: string }>;
  };
  if (Array.isArray(e.validation) && e.validation.length > 0) {
    const first = e.validation[0];
    const fromPath = first?.instancePath?.replace(/^\//, "").replaceAll("/", ".");
    const missing = first?.params?.missingProperty as string | undefined;
    const name = missing ?? (fromPath !== "" ? fromPath : undefined) ?? "request";
    if (missing) return new DoppelError("MISSING_PARAMETER", `Missing parameter ${missing}`);
    return new DoppelError(
      "INVALID_PARAMETER",
      `Invalid parameter ${name}: ${describeRule(first?.message, first?.params)}`,
    );
  }
  switch (e.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new DoppelError("INVALID_BODY", "The request body is larger than this API accepts");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new DoppelError("INVALID_BODY", e.message ?? "The request body cannot be read");
    case "FST_ERR_BAD_URL":
      return new DoppelError("INVALID_PARAMETER", "The request URL is not valid percent-encoded UTF-8");
    case "FST_ERR_MAX_PARAM_LENGTH":
      return new DoppelError(
        "INVALID_PARAMETER",
        "A path segment of the request URL is longer than 256 characters",
      );
  }
  if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
    return new DoppelError("INVALID_PARAMETER", e.message ?? "Bad request");
  }
  return new DoppelError("INTERNAL", "Internal error; the server log has the details under this request id");
}

function describeRule(message: string | undefined, params: Record<string, unknown> | undefined): string {
  if (params && Array.isArray(params.allowedValues))
    return `must be one of ${params.allowedValues.join(", ")}`;
  return message ?? "is not valid";
}
