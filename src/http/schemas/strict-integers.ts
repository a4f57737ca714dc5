import type { TObject } from "@sinclair/typebox";
import type { FastifyRequest } from "fastify";
import { invalidParameter } from "../../domain/errors.js";

const DECIMAL = /^-?\d{1,15}$/;

/**
 * Integer query parameters must be plain decimal digits. Ajv's and TypeBox's coercions would read
 * `1e1` as 10, `0x10` as 16, ` 5` as 5 or (TypeBox) `1.5` as 1 — silently listing something else than
 * asked. Returns the parameters with integer fields converted; throws INVALID_PARAMETER otherwise.
 */
export function strictIntegers(schema: TObject, params: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...params };
  for (const [name, property] of Object.entries(schema.properties)) {
    if ((property as { type?: string }).type !== "integer" || !(name in params)) continue;
    const value = params[name];
    if (typeof value !== "string" || !DECIMAL.test(value)) {
      throw invalidParameter(
        name,
        `expected a whole number in decimal digits, got ${JSON.stringify(String(value).slice(0, 32))}`,
      );
    }
    out[name] = Number(value);
  }
  return out;
}

/** A preValidation hook that applies `strictIntegers` to a route's query string. */
export function strictIntegerQuery(schema: TObject): (request: FastifyRequest) => Promise<void> {
  return async (request) => {
    request.query = strictIntegers(schema, request.query as Record<string, unknown>);
  };
}
