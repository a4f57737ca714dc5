/**
 * `npm run bench:list`: the list APIs at a million jobs, on SQLite and PostgreSQL.
 *
 * Data: 1,000 projects x 1,000 jobs plus one project of 200,000 (1.2 M jobs), seeded once and reused
 * (`--reseed` forces a fresh seed). Load: autocannon over real HTTP against `doppel serve` in a child
 * process. Floor: the same service call in this process, without HTTP, with the same concurrency.
 *
 * Options: --engine sqlite|postgres|both (default both), --duration S (default 10),
 *          --connections N (default 8), --processes N (HTTP processes of the main run; default
 *          what `doppel serve` uses, one per core up to 4), --reseed.
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import pg from "pg";
import { loadConfig } from "../src/config/config.js";
import { ICE_STATUS_STATES } from "../src/domain/ice-status.js";
import {
  createAccessKey,
  createProject,
  createToken,
  listAllProjects,
} from "../src/services/admin.service.js";
import { type ListJobsQuery, listJobs } from "../src/services/list-jobs.service.js";
import { openRuntime, type Runtime } from "../src/services/runtime.js";
import { seedJobs } from "../src/services/seed.service.js";
import { measureInProcess, medianOf, signIceRequest, startServer, stop, WARM_UP_SECONDS } from "./support.js";

const { values: args } = parseArgs({
  options: {
    engine: { type: "string", default: "both" },
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "8" },
    reseed: { type: "boolean", default: false },
    processes: { type: "string", default: String(Math.min(availableParallelism(), 4)) },
  },
});
const DURATION = Number(args.duration);
const CONNECTIONS = Number(args.connections);
const PROCESSES = Number(args.processes);
const SMALL_PROJECTS = 1000;
const SMALL_JOBS = 1000;
const LARGE_JOBS = 200_000;
const BENCH_DIR = resolve(".bench");
const PG_ADMIN_URL = process.env.DOPPEL_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const PG_BENCH_URL = PG_ADMIN_URL.replace(/\/[^/]*$/, "/doppel_bench");

type Engine = "sqlite" | "postgres";

async function prepare(engine: Engine): Promise<{ env: Record<string, string>; runtime: Runtime }> {
  const dataDir = join(BENCH_DIR, engine);
  const env: Record<string, string> = { DOPPEL_DATA_DIR: dataDir };
  if (engine === "postgres") env.DATABASE_URL = PG_BENCH_URL;
  if (args.reseed) await wipe(engine, dataDir);
  if (engine === "postgres") await ensurePgDatabase();
  mkdirSync(dataDir, { recursive: true });
  let runtime = await openRuntime(loadConfig({}, env));
  const projects = await listAllProjects(runtime);
  if (projects.length !== SMALL_PROJECTS + 1) {
    if (projects.length > 0) {
      await runtime.close();
      await wipe(engine, dataDir);
      runtime = await openRuntime(loadConfig({}, env));
    }
    await seed(runtime, engine);
  } else {
    console.log(`  reusing the seeded ${engine} data set in ${runtime.database.description}`);
  }
  return { env, runtime };
}

async function seed(runtime: Runtime, engine: Engine): Promise<void> {
  const started = performance.now();
  let total = 0;
  for (let i = 0; i < SMALL_PROJECTS; i++) {
    const project = await createProject(runtime, `bench small ${i}`);
    total += await seedJobs(runtime, { projectId: project.id, jobs: SMALL_JOBS, seed: i + 1 });
    if (i % 100 === 99) process.stdout.write(`\r  seeding ${engine}: ${total.toLocaleString()} jobs`);
  }
  const large = await createProject(runtime, "bench large");
  total += await seedJobs(runtime, {
    projectId: large.id,
    jobs: LARGE_JOBS,
    seed: 7,
    onProgress: (n) => process.stdout.write(`\r  seeding ${engine}: ${(total + n).toLocaleString()} jobs`),
  });
  if (engine === "postgres")
    await runtime.database.db.executeQuery({
      sql: "analyze",
      parameters: [],
      query: { kind: "RawNode" },
    } as never);
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `\n  seeded ${total.toLocaleString()} jobs in ${seconds.toFixed(1)} s (${Math.round(total / seconds).toLocaleString()} jobs/s)`,
  );
}

async function wipe(engine: Engine, dataDir: string): Promise<void> {
  rmSync(dataDir, { recursive: true, force: true });
  if (engine === "postgres") {
    const client = new pg.Client(PG_ADMIN_URL);
    await client.connect();
    await client.query("drop database if exists doppel_bench with (force)");
    await client.end();
  }
}

async function ensurePgDatabase(): Promise<void> {
  const client = new pg.Client(PG_ADMIN_URL);
  await client.connect();
  const exists = await client.query("select 1 from pg_database where datname = 'doppel_bench'");
  if (exists.rowCount === 0) await client.query("create database doppel_bench");
  await client.end();
}

function line(
  label: string,
  http: { rps: number; p50: number; p99: number },
  floor: { rps: number; p50: number; p99: number },
  judged: boolean,
) {
  const ratio = http.rps / floor.rps;
  const verdict = !judged ? "(reference)" : ratio >= 0.6 ? "(meets >= 0.6x)" : "(BELOW the 0.6x target)";
  console.log(
    `  ${label.padEnd(50)} HTTP ${http.rps.toFixed(0).padStart(6)} req/s  p50 ${http.p50.toFixed(2)} ms  p99 ${http.p99.toFixed(2)} ms | ` +
      `floor ${floor.rps.toFixed(0).padStart(6)} req/s  p50 ${floor.p50.toFixed(2)} ms  p99 ${floor.p99.toFixed(2)} ms | ` +
      `ratio ${ratio.toFixed(2)}x ${verdict}`,
  );
  return ratio;
}

async function cannon(options: autocannon.Options) {
  await autocannon({ duration: WARM_UP_SECONDS, connections: CONNECTIONS, ...options });
  const result = await autocannon({ duration: DURATION, connections: CONNECTIONS, ...options });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`load run had ${result.non2xx} non-2xx and ${result.errors} errors`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

async function run(engine: Engine): Promise<void> {
  console.log(`\n== ${engine} ==`);
  const { env, runtime } = await prepare(engine);
  const projects = await listAllProjects(runtime);
  const small = projects[Math.floor(SMALL_PROJECTS / 2)] as { id: string };
  const large = projects.find((p) => p.name === "bench large") as { id: string };
  const token = (await createToken(runtime, small.id)).token;
  const largeToken = (await createToken(runtime, large.id)).token;
  const key = await createAccessKey(runtime, small.id);
  const caller = { principal: { projectId: small.id, accessKeyId: null, scheme: "TOKEN" as const } };
  const msQuery: ListJobsQuery = {
    offset: 0,
    limit: 10,
    sortKey: "create_time",
    sortDir: "asc",
    states: ["JOB_SUCCESS", "TRAINING"],
  };
  const iceQuery: ListJobsQuery = {
    offset: 0,
    limit: 10,
    sortKey: "create_time",
    sortDir: "desc",
    states: ICE_STATUS_STATES.Success,
  };
  const iceParams = { PageNo: "1", PageSize: "10", Status: "Success" };
  try {
    const msFloor = await measureInProcess(() => listJobs(runtime, caller, msQuery), DURATION, CONNECTIONS);
    const iceFloor = await measureInProcess(() => listJobs(runtime, caller, iceQuery), DURATION, CONNECTIONS);
    // First as `doppel serve` runs by default (one HTTP process per core), then with one process for
    // reference: better-sqlite3 is synchronous, so one process spends a single core on HTTP and queries
    // together, while the floor spends its core on queries alone.
    for (const processes of [...new Set([PROCESSES, 1])]) {
      const main = processes === PROCESSES;
      const { url, child } = await startServer({ ...env, DOPPEL_PROCESSES: String(processes) });
      const host = new URL(url).host;
      const label = `${processes} HTTP process${processes > 1 ? "es" : ""}`;
      try {
        const msHttp = await cannon({
          url: `${url}/v1/${small.id}/digital-human-training-manage/user/jobs?limit=10&state=JOB_SUCCESS,TRAINING`,
          headers: { "X-Auth-Token": token },
        });
        line(`MetaStudio list, 2 states + count (${label})`, msHttp, msFloor, main);
        // Signed ahead of time (each with its own nonce): a real client signs on its own machine, and
        // signing here would take CPU from the server under test on this 2-core box.
        const sign = () => signIceRequest(host, iceParams, key.access_key_id, key.secret_access_key);
        const signed = Array.from({ length: Math.ceil(4000 * (DURATION + WARM_UP_SECONDS)) }, sign);
        const iceHttp = await cannon({
          url,
          requests: [
            {
              method: "POST",
              path: `/?${new URLSearchParams(iceParams)}`,
              setupRequest: (request) => ({ ...request, headers: signed.pop() ?? sign() }),
            },
          ],
        });
        line(`ICE list, ACS3-signed (${label})`, iceHttp, iceFloor, main);
        if (!main) continue;
        const deepUrl = (offset: number) =>
          `${url}/v1/${large.id}/digital-human-training-manage/user/jobs?limit=10&offset=${offset}`;
        const page = (offset: number) =>
          fetch(deepUrl(offset), { headers: { "X-Auth-Token": largeToken } }).then((r) => r.arrayBuffer());
        const first = await medianOf(() => page(0), 100);
        const deep = await medianOf(() => page(100_000), 100);
        const ratio = deep / first;
        console.log(
          `  200k-job project over HTTP: first page p50 ${first.toFixed(2)} ms, offset 100,000 p50 ${deep.toFixed(2)} ms, ` +
            `ratio ${ratio.toFixed(2)}x ${ratio <= 3 ? "(meets <= 3x)" : "(ABOVE the 3x target)"}`,
        );
      } finally {
        await stop(child);
      }
    }
  } finally {
    await runtime.close();
  }
}

const engines: Engine[] = args.engine === "both" ? ["sqlite", "postgres"] : [args.engine as Engine];
console.log(`list benchmark: ${DURATION} s per run, ${CONNECTIONS} connections, ${engines.join(" + ")}`);
if (!existsSync("dist/cli/main.js")) throw new Error("run `npm run build` first (npm run bench:list does)");
for (const engine of engines) await run(engine);
