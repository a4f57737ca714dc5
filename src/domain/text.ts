import { DoppelError, invalidParameter } from "./errors.js";

// C0/C1 controls and the BOM/line separators: they cannot be stored by PostgreSQL (NUL) or print
// misleadingly in logs and consoles, and no cloud accepts them in names or filters.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff]/;

/**
 * Checks a free-text parameter: well-formed Unicode (no lone surrogates), no control characters,
 * at most `maxLength` characters. Returns it unchanged.
 */
export function checkText(parameter: string, value: string, maxLength: number): string {
  if (!value.isWellFormed())
    throw invalidParameter(parameter, "contains malformed Unicode (a lone surrogate)");
  if (FORBIDDEN.test(value)) throw invalidParameter(parameter, "contains control characters");
  const length = [...value].length;
  if (length > maxLength)
    throw invalidParameter(parameter, `is ${length} characters long; the limit is ${maxLength}`);
  return value;
}

const APP_USER_ID = /^[\x21-\x7e]{1,128}$/;

/** `X-App-UserId`: 1–128 printable ASCII characters (MetaStudio forbids Chinese characters). */
export function checkAppUserId(value: string): string {
  if (!APP_USER_ID.test(value)) {
    throw new DoppelError(
      "INVALID_PARAMETER",
      "Invalid header X-App-UserId: must be 1–128 printable ASCII characters without spaces",
    );
  }
  return value;
}
