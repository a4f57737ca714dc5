import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { signSdkHmacSha256 } from "../../src/auth/sdk-hmac-sha256-signer.js";
import { sdkSignedHeaders } from "../../web/console/src/sdk-signer.js";

const key = { accessKeyId: "DPLAKEXAMPLE0000", secretAccessKey: "secret-0123456789" };

describe("the console's browser signer (WebCrypto)", () => {
  it("signs exactly as the server's own SDK-HMAC-SHA256 signer, whatever the path, query and body", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("GET", "POST", "PUT", "DELETE"),
        fc.array(fc.stringMatching(/^[A-Za-z0-9._~-]{1,12}$/), { minLength: 1, maxLength: 5 }),
        fc.array(fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 12 })), { maxLength: 4 }),
        fc.option(fc.json(), { nil: undefined }),
        fc.integer({ min: 0, max: 4_102_444_800_000 }),
        async (method, segments, query, body, now) => {
          const url = new URL(`http://127.0.0.1:8080/v1/${segments.join("/")}`);
          for (const [k, v] of query) url.searchParams.append(k, v);
          const headers: Record<string, string> =
            body === undefined ? {} : { "Content-Type": "application/json" };
          const ours = await sdkSignedHeaders({ method, url, headers, body }, key, now);
          const server = signSdkHmacSha256({ method, url, headers, body, date: now }, key);
          expect(ours).toEqual(server.headers);
        },
      ),
      { numRuns: 200 },
    );
  });
});
