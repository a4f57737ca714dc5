/**
 * `npm run fuzz [-- --runs N] [--engine sqlite|postgres|both] [--seed S]`: the fuzzer of
 * test/e2e/fuzz.test.ts for longer — N requests per route family (default 2,000) and N/20 requests
 * that stop half-way — against a real server per engine. Prints how many requests each family sent and
 * how they were answered, and every rule broken; exits 1 if any was.
 */
import { parseArgs } from "node:util";
import fc from "fast-check";
import type { Engine } from "../test/support/databases.js";
import {
  FAMILIES,
  type FuzzRequest,
  prepareTarget,
  problemOf,
  requestsOf,
  send,
  stalledRequests,
  Tally,
} from "../test/support/fuzz.js";
import { startTestServer } from "../test/support/server.js";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "2000" },
    engine: { type: "string", default: "both" },
    seed: { type: "string" },
  },
});
const runs = Number(values.runs);
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
const engines: Engine[] = values.engine === "both" ? ["sqlite", "postgres"] : [values.engine as Engine];
const IDLE_MS = 1000;
const CONCURRENCY = 8;

let broken = 0;
for (const engine of engines) {
  const server = await startTestServer(engine, [50], {
    DOPPEL_IDLE_TIMEOUT_SECONDS: "1",
    DOPPEL_HEADERS_TIMEOUT_SECONDS: "2",
    DOPPEL_MAX_UPLOAD_MB: "1",
    DOPPEL_LOG_LEVEL: "silent",
  });
  try {
    const target = await prepareTarget(server, IDLE_MS);
    const tally = new Tally();
    const problems: string[] = [];
    const started = Date.now();
    const batches: FuzzRequest[][] = [
      ...FAMILIES.map((family) => fc.sample(requestsOf(target, family), { numRuns: runs, seed })),
      fc.sample(stalledRequests(target), { numRuns: Math.max(1, Math.round(runs / 20)), seed }),
    ];
    for (const batch of batches) {
      for (let i = 0; i < batch.length; i += CONCURRENCY) {
        await Promise.all(
          batch.slice(i, i + CONCURRENCY).map(async (request) => {
            const outcome = await send(target, request, IDLE_MS + 8000);
            tally.add(request, outcome);
            const problem = problemOf(target, request, outcome);
            if (problem !== undefined) problems.push(problem);
          }),
        );
        process.stderr.write(
          `\r${engine}: ${batch[0]?.family ?? ""} ${Math.min(i + CONCURRENCY, batch.length)}/${batch.length}   `,
        );
      }
    }
    process.stderr.write("\n");
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    process.stdout.write(`\n${engine} (seed ${seed}, ${seconds} s):\n${tally.lines().join("\n")}\n`);
    process.stdout.write(
      problems.length === 0
        ? "no rule broken: no 5xx, every error in its path's envelope, every request answered or closed in time\n"
        : `${problems.length} rules broken:\n${problems.slice(0, 30).join("\n")}\n`,
    );
    broken += problems.length;
  } finally {
    await server.close();
  }
}
process.exit(broken === 0 ? 0 : 1);
