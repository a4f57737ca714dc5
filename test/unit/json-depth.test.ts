import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { nestsDeeperThan } from "../../src/http/plugins/json-depth.js";

/** Nesting of arrays and objects, the way a recursive reader sees it. */
function depthOf(value: unknown): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depthOf));
  if (value !== null && typeof value === "object")
    return 1 + Math.max(0, ...Object.values(value).map(depthOf));
  return 0;
}

describe("nestsDeeperThan", () => {
  it("agrees with the parsed depth for any JSON, brackets and escapes inside strings included", () => {
    const tricky = fc.constantFrom("[", "]", "{", "}", '"', "\\", '\\"[', "雪", "\u0000");
    const text = fc
      .array(fc.oneof(tricky, fc.string({ maxLength: 4 })), { maxLength: 5 })
      .map((p) => p.join(""));
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: "small" },
        text,
        fc.integer(),
        fc.constant(null),
        fc.array(tie("node"), { maxLength: 3 }),
        fc.dictionary(text, tie("node"), { maxKeys: 3 }),
      ),
    })).node;
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: 12 }), (v, max) => {
        const json = Buffer.from(JSON.stringify(v), "utf8");
        expect(nestsDeeperThan(json, max)).toBe(depthOf(v) > max);
      }),
      { numRuns: 2000 },
    );
  });

  it("handles 100,000 levels without recursion", () => {
    const deep = Buffer.from(`${"[".repeat(100_000)}${"]".repeat(100_000)}`);
    expect(nestsDeeperThan(deep, 64)).toBe(true);
    expect(nestsDeeperThan(Buffer.from('{"a":"[[[[[[[[","b":[1]}'), 2)).toBe(false);
  });
});
