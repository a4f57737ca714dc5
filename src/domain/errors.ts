/**
 * The one catalog of domain errors. Every failure Doppel reports has a stable code here; each HTTP
 * dialect maps the code to its own envelope and status in `http/dialects/<name>/errors.ts`, so a new
 * error is added once and shows up correctly in every dialect.
 */
export const ERROR_CODES = [
  /** A query or body parameter has the wrong type, range or format. */
  "INVALID_PARAMETER",
  /** A required parameter is absent. */
  "MISSING_PARAMETER",
  /** The request body is not valid JSON or not the expected shape. */
  "INVALID_BODY",
  /** No route or RPC action by that name. */
  "API_NOT_FOUND",
  /** The route exists but not with that HTTP method. */
  "METHOD_NOT_ALLOWED",
  /** The RPC `Version` is not one this service speaks. */
  "UNSUPPORTED_VERSION",
  /** No credentials at all were sent. */
  "AUTH_MISSING",
  /** An Authorization header or signature parameter is present but cannot be parsed. */
  "SIGNATURE_MALFORMED",
  /** The signature does not match the request. */
  "SIGNATURE_MISMATCH",
  /** The request time is unparseable. */
  "TIMESTAMP_MALFORMED",
  /** The request time is more than the allowed skew away from the server clock. */
  "TIMESTAMP_EXPIRED",
  /** A signature nonce was seen before within its validity window. */
  "NONCE_REUSED",
  /** The access key id is unknown or disabled. */
  "ACCESS_KEY_NOT_FOUND",
  /** The X-Auth-Token is unknown, malformed or expired. */
  "TOKEN_INVALID",
  /** The project named in the URL is not the credential's project. */
  "PROJECT_MISMATCH",
  /** The caller is authenticated but may not do this. */
  "FORBIDDEN",
  /** A named project does not exist. */
  "PROJECT_NOT_FOUND",
  /** A named job does not exist in the caller's project. */
  "JOB_NOT_FOUND",
  /** A named asset (trained avatar) does not exist in the caller's project. */
  "ASSET_NOT_FOUND",
  /** A named webhook does not exist in the caller's project. */
  "WEBHOOK_NOT_FOUND",
  /** The job's state does not allow the operation. */
  "INVALID_STATE",
  /** Another request changed the job at the same moment; the caller may retry. */
  "CONFLICT",
  /** A create's client token already made a job that has since been deleted; it cannot make another. */
  "CLIENT_TOKEN_USED",
  /** A file is missing, incomplete or not of an accepted kind. */
  "INVALID_FILE",
  /** An uploaded file is larger than allowed. */
  "FILE_TOO_LARGE",
  /** A download's byte range starts past the file's end (or asks for no bytes): nothing to send. */
  "RANGE_NOT_SATISFIABLE",
  /** Unexpected failure inside Doppel; never caused by input. */
  "INTERNAL",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** A failure with a catalog code and a message a person can act on. */
export class DoppelError extends Error {
  override readonly name = "DoppelError";
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Shorthand for the most common input error. */
export function invalidParameter(parameter: string, why: string): DoppelError {
  return new DoppelError("INVALID_PARAMETER", `Invalid parameter ${parameter}: ${why}`);
}

export function isDoppelError(error: unknown): error is DoppelError {
  return error instanceof DoppelError;
}
