import { type TUnsafe, Type } from "@sinclair/typebox";

/**
 * A string enum as plain JSON Schema `enum`: validation errors then name the allowed values, where
 * TypeBox's Union of literals would report one "must be equal to constant" per branch.
 */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: { default?: T[number]; description?: string } = {},
): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: "string", enum: [...values], ...options });
}
