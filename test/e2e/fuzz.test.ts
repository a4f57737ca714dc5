/**
 * Fuzzing every route family over real HTTP on both databases (see test/support/fuzz.ts): no request
 * of any kind gets a 5xx, an error in the wrong dialect's envelope, or no answer; a request that stops
 * half-way is answered or closed within the idle timeout. Bounded here; `npm run fuzz` runs longer.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENGINES } from "../support/databases.js";
import {
  FAMILIES,
  type FuzzRequest,
  type FuzzTarget,
  prepareTarget,
  problemOf,
  requestsOf,
  send,
  stalledRequests,
} from "../support/fuzz.js";
import { startTestServer, type TestServer } from "../support/server.js";

const IDLE_MS = 1000;
const RUNS = 150;

describe.each(ENGINES)("fuzzing every route family on %s", (engine) => {
  let s: TestServer;
  let target: FuzzTarget;

  beforeAll(async () => {
    s = await startTestServer(engine, [20], {
      DOPPEL_IDLE_TIMEOUT_SECONDS: String(IDLE_MS / 1000),
      DOPPEL_HEADERS_TIMEOUT_SECONDS: "2",
      DOPPEL_MAX_UPLOAD_MB: "1",
    });
    target = await prepareTarget(s, IDLE_MS);
  });
  afterAll(async () => s?.close());

  async function check(request: FuzzRequest): Promise<void> {
    const outcome = await send(target, request, IDLE_MS + 8000);
    const problem = problemOf(target, request, outcome);
    expect(problem, problem).toBeUndefined();
  }

  it.each(FAMILIES)("%s: never a 5xx, always the path's envelope, always an answer", async (family) => {
    await fc.assert(fc.asyncProperty(requestsOf(target, family), check), { numRuns: RUNS });
  });

  it("answers or closes a request that stops half-way within the idle timeout", async () => {
    // Each run waits for the idle timeout, so they run side by side.
    const requests = fc.sample(stalledRequests(target), 12);
    await Promise.all(requests.map(check));
  });
});
