/**
 * One caller's signature nonce must never fail another caller's request. Nonces of every signed ICE
 * request are written together (group commit, services/nonce-batcher.ts), so a nonce the database
 * cannot store (too long for the column, a NUL byte PostgreSQL refuses in text) used to fail the whole
 * batch: a 500 for every unrelated request that shared it. Real HTTP, both databases.
 */

import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENGINES } from "../support/databases.js";
import { credentialsOf, type SignedRaw, sendRaw, signAcs3, signRpcV1 } from "../support/sdk-clients.js";
import { startTestServer, type TestServer } from "../support/server.js";

const ICE_ERROR_KEYS = ["Code", "HostId", "Message", "Recommend", "RequestId"];

type Project = TestServer["projects"][number];

describe.each(ENGINES)("nonces of one caller cannot fail another's request on %s", (engine) => {
  let s: TestServer;
  let a: Project;
  let b: Project;

  beforeAll(async () => {
    s = await startTestServer(engine, [2, 2]);
    [a, b] = s.projects as [Project, Project];
  });
  afterAll(async () => s?.close());

  /** Valid signed requests of the other project, both schemes, to send alongside a bad one. */
  function bystanders(): SignedRaw[] {
    return [
      signAcs3(s, credentialsOf(b.key), { PageSize: "5" }),
      signRpcV1(s, credentialsOf(b.key), { PageSize: "5" }),
      signAcs3(s, credentialsOf(a.key), { PageSize: "5" }),
      signRpcV1(s, credentialsOf(a.key), { PageSize: "5" }),
    ];
  }

  /** Sends `suspect` together with valid requests: they must all succeed; `suspect` gets 200 or a 4xx. */
  async function sendAmongValid(suspect: SignedRaw, context: string) {
    const [answer, ...others] = await Promise.all([suspect, ...bystanders()].map((raw) => sendRaw(raw)));
    for (const other of others) {
      expect(
        other.status,
        `${context}: a valid request sent alongside got ${JSON.stringify(other.body)}`,
      ).toBe(200);
    }
    const { status, body } = answer as Awaited<ReturnType<typeof sendRaw>>;
    expect(status, `${context} → ${status} ${JSON.stringify(body).slice(0, 300)}`).toBeLessThan(500);
    if (status !== 200) expect(Object.keys(body).sort(), context).toEqual(ICE_ERROR_KEYS);
    return { status, body };
  }

  it("refuses a 256-character nonce with a 4xx and the requests beside it succeed", async () => {
    for (const sign of [signAcs3, signRpcV1]) {
      const { status, body } = await sendAmongValid(
        sign(s, credentialsOf(a.key), { PageSize: "5" }, { nonce: "n".repeat(256) }),
        `${sign.name} 256-character nonce`,
      );
      expect(status).toBe(400);
      expect(body.Code).toBe("IncompleteSignature");
      expect(String(body.Message)).toContain("at most 255");
    }
  });

  it("refuses a SignatureNonce with a NUL byte or other control characters with a 4xx", async () => {
    for (const nonce of ["abc\u0000def", "tab\there", "new\nline", "é-not-ascii"]) {
      const { status, body } = await sendAmongValid(
        signRpcV1(s, credentialsOf(a.key), { PageSize: "5" }, { nonce }),
        `SignatureNonce ${JSON.stringify(nonce)}`,
      );
      expect(status).toBe(400);
      expect(body.Code).toBe("IncompleteSignature");
      expect(String(body.Message)).toContain("printable ASCII");
    }
  });

  it("random nonces of any length and characters never get a 5xx nor fail a concurrent valid request", async () => {
    // Header values can carry only latin-1 without control characters (Node refuses others, DEL
    // included); query parameters can carry anything, percent-encoded.
    const headerChar = fc
      .integer({ min: 0x20, max: 0xff })
      .filter((c) => c !== 0x7f)
      .map((c) => String.fromCharCode(c));
    const headerNonce = fc.oneof(
      fc.string({ unit: headerChar, maxLength: 300 }),
      fc.integer({ min: 250, max: 400 }).map((n) => "x".repeat(n)),
    );
    const queryNonce = fc.oneof(
      fc.string({ unit: "binary", maxLength: 300 }),
      fc.string({ unit: "binary-ascii", maxLength: 300 }),
      fc.integer({ min: 250, max: 400 }).map((n) => "y".repeat(n)),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          headerNonce.map((nonce) => ({ scheme: "v3" as const, nonce })),
          queryNonce.map((nonce) => ({ scheme: "v2" as const, nonce })),
        ),
        async ({ scheme, nonce }) => {
          // (A nonce that repeats an earlier run's is a replay: a 4xx too.)
          const request = (scheme === "v3" ? signAcs3 : signRpcV1)(
            s,
            credentialsOf(a.key),
            { PageSize: "5" },
            { nonce },
          );
          const { status } = await sendAmongValid(
            request,
            `${scheme} nonce ${JSON.stringify(nonce).slice(0, 80)}`,
          );
          // A nonce that is accepted once is refused as a replay the second time, never with a 5xx.
          if (status === 200) expect((await sendRaw(request)).status).toBe(400);
        },
      ),
      { numRuns: 120 },
    );
  });
});
