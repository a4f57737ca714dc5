import cluster from "node:cluster";
import type { Command } from "commander";
import pino from "pino";
import type { Config } from "../config/config.js";
import { buildApp } from "../http/app.js";
import { checkPipelineSettings, startPipeline } from "../pipeline/run-pipeline.js";
import { ensureDefaultProject } from "../services/admin.service.js";
import { openRuntime } from "../services/runtime.js";
import { configOf, withConfigFlags } from "./config-flags.js";

/**
 * `doppel serve`: the API on the configured database, until SIGINT/SIGTERM. With `--processes N > 1`
 * the main process migrates, then forks N HTTP processes that share the port (node:cluster); each has
 * its own database connection. Nothing lives only in one process's memory, so any of them may answer.
 * The pipeline's workers run in the main process unless `--no-workers`.
 */
export function registerServeCommand(program: Command): void {
  withConfigFlags(program.command("serve").description("run the API server")).action(
    async (_opts, command: Command) => {
      const config = configOf(command);
      if (cluster.isPrimary && config.pipeline.workers) await checkPipelineSettings(config);
      if (config.processes > 1 && cluster.isPrimary) return superviseProcesses(config);
      return serveHere(config, cluster.isPrimary);
    },
  );
}

/** Serves from this process; the main process of a single-process server also prints the banner. */
async function serveHere(config: Config, mainProcess: boolean): Promise<void> {
  const runtime = await openRuntime(config);
  const app = await buildApp(runtime, { logger: { level: config.logLevel } });
  const project = mainProcess ? await ensureDefaultProject(runtime) : undefined;
  const address = await app.listen({ host: config.host, port: config.port });
  if (project) process.stdout.write(banner(address, runtime.database.description, project, 1));
  // Only the main process runs workers: forked HTTP processes stay light and restartable.
  const pipeline = mainProcess && config.pipeline.workers ? await startPipeline(runtime, app.log) : undefined;
  const stop = async () => {
    await pipeline?.stop();
    await app.close();
    await runtime.close();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

async function superviseProcesses(config: Config): Promise<void> {
  // Migrate and create the default project once, before the HTTP processes race to do it.
  const runtime = await openRuntime(config);
  const project = await ensureDefaultProject(runtime);
  const description = runtime.database.description;
  const pipeline = config.pipeline.workers
    ? await startPipeline(runtime, pino({ level: config.logLevel }))
    : undefined;

  let stopping = false;
  for (let i = 0; i < config.processes; i++) cluster.fork();
  cluster.once("listening", (_worker, address) => {
    const host = address.address === null || address.address === "0.0.0.0" ? "localhost" : address.address;
    process.stdout.write(banner(`http://${host}:${address.port}`, description, project, config.processes));
  });
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) return;
    process.stderr.write(`HTTP process ${worker.process.pid} exited (${signal ?? code}); starting another\n`);
    cluster.fork();
  });
  const stop = async () => {
    stopping = true;
    await pipeline?.stop();
    await runtime.close();
    const workers = Object.values(cluster.workers ?? {});
    let left = workers.length;
    if (left === 0) process.exit(0);
    for (const worker of workers) {
      worker?.once("exit", () => {
        left -= 1;
        if (left === 0) process.exit(0);
      });
      worker?.process.kill("SIGTERM");
    }
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

function banner(
  address: string,
  database: string,
  project: { id: string; name: string; created: boolean },
  processes: number,
): string {
  const shown = address.replace("://0.0.0.0", "://localhost").replace("://[::]", "://localhost");
  return [
    "",
    `Doppel is listening on ${shown}  (database: ${database}${processes > 1 ? `, ${processes} HTTP processes` : ""})`,
    `  MetaStudio: ${shown}/v1/<project_id>/digital-human-training-manage/user/jobs`,
    `  ICE:        ${shown}/?Action=ListAvatarTrainingJobs&Version=2020-11-09`,
    `  Reference:  ${shown}/docs  (OpenAPI: ${shown}/openapi/{metastudio,ice,admin,worker}.json)`,
    `  Console:    ${shown}/console/  (sign in with the project id and a token from \`doppel token create\`)`,
    project.created ? `Created project "${project.name}" (${project.id}).` : `Default project: ${project.id}`,
    "Get credentials (in another terminal, same directory):",
    `  npx doppel key create --project ${project.id}     # AK/SK for both SDKs`,
    `  npx doppel token create --project ${project.id}   # X-Auth-Token for MetaStudio`,
    "",
  ].join("\n");
}
