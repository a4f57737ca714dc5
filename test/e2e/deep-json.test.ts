/**
 * Deeply nested JSON bodies: refused with 400 `INVALID_BODY` naming the depth limit, in the caller's
 * envelope, on every route that parses JSON; nesting of any depth and shape never gets a 5xx.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdminToken } from "../../src/services/admin-tokens.service.js";
import { ENGINES } from "../support/databases.js";
import { jobsUrl, startTestApp, type TestServer } from "../support/server.js";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Body = any;

/** `depth` levels of arrays and objects, chosen by `shape`, around `leaf`. */
function nested(depth: number, shape: readonly boolean[], leaf = "1"): string {
  let open = "";
  let close = "";
  for (let i = 0; i < depth; i++) {
    const object = shape[i % Math.max(shape.length, 1)] ?? false;
    open += object ? '{"k":' : "[";
    close = (object ? "}" : "]") + close;
  }
  return open + leaf + close;
}

/** Leaves and the nesting they add themselves. */
const LEAF_DEPTHS: Record<string, number> = {
  "1": 0,
  '"x"': 0,
  null: 0,
  "{}": 1,
  "[]": 1,
  '{"a":[1,{"b":2}]}': 3,
};

describe.each(ENGINES)("deeply nested JSON on %s", (engine) => {
  let s: TestServer;
  let a: TestServer["projects"][number];
  let operator: string;

  beforeAll(async () => {
    s = await startTestApp(engine, [0]);
    [a] = s.projects as [typeof a];
    operator = (await createAdminToken(s.t.runtime, "deep")).token;
  });
  afterAll(async () => s?.close());

  const createWith = async (voiceProperties: string) => {
    const res = await s.fetch(jobsUrl(s, a.id), {
      method: "POST",
      headers: { "X-Auth-Token": a.token, "Content-Type": "application/json" },
      body: `{"name":"Deep","voice_properties":${voiceProperties}}`,
    });
    return { status: res.status, body: (await res.json()) as Body };
  };

  it("refuses voice_properties nested 5,000 deep with 400 naming the limit", async () => {
    const res = await createWith(nested(5000, [true, false]));
    expect(res).toEqual({
      status: 400,
      body: { error_code: "MSS.00000002", error_msg: expect.stringMatching(/nested deeper than 64 levels/) },
    });
    const arrays = await createWith(nested(5000, [false]));
    expect(arrays.status).toBe(400);
  });

  it("refuses deep JSON on the admin and worker APIs, and answers ICE in its envelope", async () => {
    const deep = `{"worker":"w","x":${nested(1000, [false])}}`;
    for (const path of ["/worker/v1/claim", "/admin/v1/reviews/0123456789abcdef0123456789abcdef/approve"]) {
      const res = await s.fetch(`${s.baseUrl}${path}`, {
        method: "POST",
        headers: { Authorization: `Bearer ${operator}`, "Content-Type": "application/json" },
        body: deep,
      });
      expect([path, res.status]).toEqual([path, 400]);
      expect(await res.json()).toEqual({
        error_code: "MSS.00000002",
        error_msg: expect.stringMatching(/64/),
      });
    }
    // ICE refuses an unsigned request before reading its body; either refusal is a 400 in its envelope.
    const ice = await s.fetch(`${s.baseUrl}/`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: deep,
    });
    expect(ice.status).toBe(400);
    expect(Object.keys((await ice.json()) as Body).sort()).toEqual([
      "Code",
      "HostId",
      "Message",
      "Recommend",
      "RequestId",
    ]);
  });

  it("never answers 5xx for nesting of any depth and shape", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 3000 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
        fc.constantFrom(...Object.keys(LEAF_DEPTHS)),
        async (depth, shape, leaf) => {
          const res = await createWith(nested(depth, shape, leaf));
          expect(res.status).toBeLessThan(500);
          if (depth + (LEAF_DEPTHS[leaf] ?? 0) > 64) {
            expect(res).toEqual({
              status: 400,
              body: { error_code: "MSS.00000002", error_msg: expect.any(String) },
            });
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
