import type { ErrorCode } from "../../../domain/errors.js";

/**
 * MetaStudio's error envelope `{error_code, error_msg}`. Codes Huawei publishes are used as published;
 * the `MSS.1000200x` job codes are Doppel's own (Huawei publishes none for them), in the same style.
 */
export const METASTUDIO_ERRORS: Readonly<Record<ErrorCode, { status: number; code: string }>> = {
  INVALID_PARAMETER: { status: 400, code: "MSS.00000003" },
  MISSING_PARAMETER: { status: 400, code: "MSS.00000003" },
  INVALID_BODY: { status: 400, code: "MSS.00000002" },
  API_NOT_FOUND: { status: 404, code: "MSS.00010003" },
  METHOD_NOT_ALLOWED: { status: 405, code: "MSS.00010004" },
  UNSUPPORTED_VERSION: { status: 404, code: "MSS.00010003" },
  AUTH_MISSING: { status: 401, code: "MSS.00010008" },
  SIGNATURE_MALFORMED: { status: 401, code: "MSS.00010008" },
  SIGNATURE_MISMATCH: { status: 401, code: "MSS.00010008" },
  TIMESTAMP_MALFORMED: { status: 401, code: "MSS.00010008" },
  TIMESTAMP_EXPIRED: { status: 401, code: "MSS.00010008" },
  NONCE_REUSED: { status: 401, code: "MSS.00010008" },
  ACCESS_KEY_NOT_FOUND: { status: 401, code: "MSS.00010008" },
  TOKEN_INVALID: { status: 401, code: "MSS.00010008" },
  PROJECT_MISMATCH: { status: 403, code: "MSS.00010009" },
  FORBIDDEN: { status: 403, code: "MSS.00010010" },
  PROJECT_NOT_FOUND: { status: 404, code: "MSS.10002003" },
  JOB_NOT_FOUND: { status: 404, code: "MSS.10002001" },
  // The asset library answers an unknown asset with 400 MSS.10001001 "Asset not found" (its error-code
  // page; see docs/design/asset-apis.md §1), unlike the job APIs' 404.
  ASSET_NOT_FOUND: { status: 400, code: "MSS.10001001" },
  // Doppel's own API (MetaStudio has no webhooks): a code in the job range's style.
  WEBHOOK_NOT_FOUND: { status: 404, code: "MSS.10002008" },
  INVALID_STATE: { status: 409, code: "MSS.10002002" },
  CONFLICT: { status: 409, code: "MSS.10002004" },
  CLIENT_TOKEN_USED: { status: 409, code: "MSS.10002006" },
  INVALID_FILE: { status: 400, code: "MSS.10001004" },
  FILE_TOO_LARGE: { status: 413, code: "MSS.10002005" },
  RANGE_NOT_SATISFIABLE: { status: 416, code: "MSS.10002007" },
  INTERNAL: { status: 500, code: "MSS.00000004" },
};
