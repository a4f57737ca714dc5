import { type TUnsafe, Type } from "@sinclair/typebox";

/**
 * A response without a body (the handler sends `undefined`). `type: "null"` is how @fastify/swagger,
 * and so Doppel's OpenAPI documents, spell "no content"; Fastify never runs a serializer for an
 * undefined payload, so the schema is only ever read by the documents.
 */
export function EmptyBody(description: string): TUnsafe<undefined> {
  return Type.Unsafe<undefined>({ type: "null", description });
}
