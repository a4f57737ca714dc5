/** A JSON value as the documents hold it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/**
 * A plain JSON copy of a TypeBox schema: TypeBox's symbol keys (Kind, Optional) and undefined values
 * go, so the document holds exactly what a client reads.
 */
export function plainSchema(schema: unknown): JsonObject {
  return JSON.parse(JSON.stringify(schema ?? {})) as JsonObject;
}

const isObject = (value: Json | undefined): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Keywords whose value is one subschema, a list of them, or a map of them. */
const ONE = ["items", "additionalProperties", "not", "contains", "if", "then", "else", "propertyNames"];
const LIST = ["anyOf", "oneOf", "allOf", "prefixItems"];
const MAP = ["properties", "patternProperties", "$defs", "dependentSchemas"];

/** Calls `visit` on every subschema of `schema`, children before their parent. */
export function eachSubschema(schema: JsonObject, visit: (node: JsonObject) => void): void {
  for (const key of ONE) {
    const child = schema[key];
    if (isObject(child)) eachSubschema(child, visit);
  }
  for (const key of LIST) {
    const children = schema[key];
    if (Array.isArray(children))
      for (const child of children) if (isObject(child)) eachSubschema(child, visit);
  }
  for (const key of MAP) {
    const children = schema[key];
    if (isObject(children))
      for (const child of Object.values(children)) if (isObject(child)) eachSubschema(child, visit);
  }
  visit(schema);
}

/**
 * Says of every object in a response schema that it has no other fields (`additionalProperties:
 * false` where the schema left it open), so that validating a real response against the document
 * finds any field the document does not name. Objects under `allOf` are closed once, at the `allOf`
 * (`unevaluatedProperties`), since closing each branch would refuse the other branches' fields.
 */
export function closeObjects(schema: JsonObject): JsonObject {
  eachSubschema(schema, (node) => {
    if (Array.isArray(node.allOf)) {
      node.unevaluatedProperties ??= false;
      for (const branch of node.allOf) if (isObject(branch)) reopen(branch);
      return;
    }
    if (
      isObject(node.properties) &&
      node.additionalProperties === undefined &&
      node.patternProperties === undefined
    ) {
      node.additionalProperties = false;
    }
  });
  return schema;
}

function reopen(branch: JsonObject): void {
  if (branch.additionalProperties === false) delete branch.additionalProperties;
}

/**
 * Moves every subschema with a `title` into `components` (by title) and puts a `$ref` in its place,
 * so that a type used by several operations is described once and named. Two different schemas with
 * one title are a mistake in the route schemas: refused rather than one silently winning.
 */
export function hoistTitled(schema: JsonObject, components: Record<string, JsonObject>): JsonObject {
  const replace = (node: JsonObject): Json => {
    const title = node.title;
    if (typeof title !== "string") return node;
    const existing = components[title];
    if (existing !== undefined && JSON.stringify(existing) !== JSON.stringify(node)) {
      throw new Error(`Two different schemas are titled ${title}; give one another title`);
    }
    components[title] = node;
    return { $ref: `#/components/schemas/${title}` };
  };
  const walk = (node: JsonObject): JsonObject => {
    for (const key of ONE) {
      const child = node[key];
      if (isObject(child)) node[key] = replace(walk(child));
    }
    for (const key of LIST) {
      const children = node[key];
      if (Array.isArray(children)) node[key] = children.map((c) => (isObject(c) ? replace(walk(c)) : c));
    }
    for (const key of MAP) {
      const children = node[key];
      if (!isObject(children)) continue;
      for (const [name, child] of Object.entries(children))
        if (isObject(child)) children[name] = replace(walk(child));
    }
    return node;
  };
  const root = walk(schema);
  const top = replace(root);
  return isObject(top) ? top : root;
}

/** `base` with `extra` merged in: objects merged key by key, arrays appended, anything else replaced. */
export function mergeJson(base: JsonObject, extra: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    if (isObject(current) && isObject(value)) out[key] = mergeJson(current, value);
    else if (Array.isArray(current) && Array.isArray(value)) out[key] = [...current, ...value];
    else out[key] = value;
  }
  return out;
}
