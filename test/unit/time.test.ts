import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatUtcSeconds, parseRfc3339, parseRfc3339Until } from "../../src/domain/time.js";

describe("wire times", () => {
  it("formats as yyyy-MM-ddTHH:mm:ssZ and parses back to the second", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 253402300799000 }), (ms) => {
        const text = formatUtcSeconds(ms);
        expect(text).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
        expect(parseRfc3339(text)).toBe(Math.floor(ms / 1000) * 1000);
      }),
    );
  });

  it("reads an upper bound without a fraction as covering its whole second", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 253402300799000 }), (ms) => {
        // Whatever the milliseconds of a stored time, its displayed form is a bound that includes it.
        const until = parseRfc3339Until(formatUtcSeconds(ms));
        expect(until).toBeGreaterThanOrEqual(ms);
        expect(until).toBe(Math.floor(ms / 1000) * 1000 + 999);
        expect(parseRfc3339(formatUtcSeconds(ms))).toBeLessThanOrEqual(ms);
      }),
    );
    expect(parseRfc3339Until("2020-07-30T10:43:17.250Z")).toBe(Date.UTC(2020, 6, 30, 10, 43, 17, 250));
    expect(parseRfc3339Until("2020-07-30T18:43:17+08:00")).toBe(Date.UTC(2020, 6, 30, 10, 43, 17, 999));
    expect(parseRfc3339Until("2020-07-30")).toBeUndefined();
  });

  it("honours offsets and fractions", () => {
    expect(parseRfc3339("2020-07-30T10:43:17Z")).toBe(Date.UTC(2020, 6, 30, 10, 43, 17));
    expect(parseRfc3339("2020-07-30T18:43:17+08:00")).toBe(Date.UTC(2020, 6, 30, 10, 43, 17));
    expect(parseRfc3339("2020-07-30T10:43:17.250Z")).toBe(Date.UTC(2020, 6, 30, 10, 43, 17, 250));
  });

  it("rejects impossible dates and anything that is not RFC 3339", () => {
    for (const bad of [
      "2023-02-30T00:00:00Z",
      "2023-13-01T00:00:00Z",
      "2023-01-01T24:00:00Z",
      "2023-01-01",
      "1690000000",
      "",
      "yesterday",
    ]) {
      expect(parseRfc3339(bad), bad).toBeUndefined();
    }
    fc.assert(
      fc.property(fc.string(), (s) => {
        const parsed = parseRfc3339(s);
        expect(parsed === undefined || Number.isFinite(parsed)).toBe(true);
      }),
    );
  });
});
