import { invalidParameter } from "./errors.js";
import { checkText } from "./text.js";

/**
 * The rules for a job's user-given fields, shared by every way in: both dialects (through the job
 * services) and the CLI, which checks arguments before it sends anything.
 */

/** Most tags a job may carry, and the longest tag (MetaStudio's limits). */
export const MAX_TAGS = 20;
export const MAX_TAG_LENGTH = 64;

/** Checked, trimmed text that must not be blank. */
export function requiredText(name: string, value: string, max: number): string {
  const text = checkText(name, value, max).trim();
  if (text === "") throw invalidParameter(name, "must not be empty");
  return text;
}

/** Checked text, or undefined when none was given. */
export function optionalText(name: string, value: string | undefined, max: number): string | undefined {
  return value === undefined ? undefined : checkText(name, value, max);
}

/** `value` if it is one of `allowed`; INVALID_PARAMETER naming the choices otherwise. */
export function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw invalidParameter(
      name,
      `must be one of ${allowed.join(", ")} (got ${JSON.stringify(value.slice(0, 32))})`,
    );
  }
  return value as T;
}

/** At most MAX_TAGS non-blank tags of at most MAX_TAG_LENGTH characters, trimmed, duplicates dropped. */
export function checkTags(tags: readonly string[], name = "tags"): string[] {
  if (tags.length > MAX_TAGS) throw invalidParameter(name, `at most ${MAX_TAGS} tags (got ${tags.length})`);
  return [...new Set(tags.map((tag) => requiredText(name, tag, MAX_TAG_LENGTH)))];
}
