import type { ErrorCode } from "../../../domain/errors.js";

/**
 * Alibaba's error envelope `{RequestId, HostId, Code, Message, Recommend}`, with the common codes and
 * statuses Alibaba's gateway uses. `INVALID_PARAMETER` with a named parameter becomes
 * `InvalidParameter` (Alibaba also uses `Invalid<Name>`, but SDK users match on the generic code).
 */
export const ICE_ERRORS: Readonly<Record<ErrorCode, { status: number; code: string }>> = {
  INVALID_PARAMETER: { status: 400, code: "InvalidParameter" },
  MISSING_PARAMETER: { status: 400, code: "MissingParameter" },
  INVALID_BODY: { status: 400, code: "InvalidParameter" },
  API_NOT_FOUND: { status: 404, code: "InvalidApi.NotFound" },
  METHOD_NOT_ALLOWED: { status: 405, code: "UnsupportedHTTPMethod" },
  UNSUPPORTED_VERSION: { status: 400, code: "InvalidVersion" },
  AUTH_MISSING: { status: 400, code: "MissingAccessKeyId" },
  SIGNATURE_MALFORMED: { status: 400, code: "IncompleteSignature" },
  SIGNATURE_MISMATCH: { status: 400, code: "SignatureDoesNotMatch" },
  TIMESTAMP_MALFORMED: { status: 400, code: "InvalidTimeStamp.Format" },
  TIMESTAMP_EXPIRED: { status: 400, code: "InvalidTimeStamp.Expired" },
  NONCE_REUSED: { status: 400, code: "SignatureNonceUsed" },
  ACCESS_KEY_NOT_FOUND: { status: 404, code: "InvalidAccessKeyId.NotFound" },
  TOKEN_INVALID: { status: 400, code: "InvalidSecurityToken.Malformed" },
  PROJECT_MISMATCH: { status: 403, code: "Forbidden.RAM" },
  FORBIDDEN: { status: 403, code: "Forbidden.RAM" },
  PROJECT_NOT_FOUND: { status: 404, code: "InvalidParameter" },
  JOB_NOT_FOUND: { status: 404, code: "InvalidParameter.JobNotFound" },
  ASSET_NOT_FOUND: { status: 404, code: "InvalidParameter.AvatarNotFound" },
  WEBHOOK_NOT_FOUND: { status: 404, code: "InvalidParameter.WebhookNotFound" },
  INVALID_STATE: { status: 409, code: "OperationDenied.JobStatus" },
  CONFLICT: { status: 409, code: "OperationConflict" },
  CLIENT_TOKEN_USED: { status: 409, code: "OperationDenied.ClientTokenUsed" },
  INVALID_FILE: { status: 400, code: "InvalidParameter.File" },
  FILE_TOO_LARGE: { status: 413, code: "InvalidParameter.FileSize" },
  // OSS's code for the same answer (Alibaba's object storage, where ICE's files live).
  RANGE_NOT_SATISFIABLE: { status: 416, code: "InvalidRange" },
  INTERNAL: { status: 500, code: "InternalError" },
};
