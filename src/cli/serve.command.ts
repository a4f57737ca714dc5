import type { Command } from "commander";
import { buildApp } from "../http/app.js";
import { ensureDefaultProject } from "../services/admin.service.js";
import { openRuntime } from "../services/runtime.js";
import { configOf, withConfigFlags } from "./config-flags.js";

/** `doppel serve`: the API on the configured database, until SIGINT/SIGTERM. */
export function registerServeCommand(program: Command): void {
  withConfigFlags(program.command("serve").description("run the API server")).action(
    async (_opts, command: Command) => {
      const config = configOf(command);
      const runtime = await openRuntime(config);
      const app = await buildApp(runtime, { logger: { level: config.logLevel } });
      const project = await ensureDefaultProject(runtime);
      const address = await app.listen({ host: config.host, port: config.port });
      const shown = address.replace("://0.0.0.0", "://localhost").replace("://[::]", "://localhost");
      process.stdout.write(
        [
          "",
          `Doppel is listening on ${shown}  (database: ${runtime.database.description})`,
          `  MetaStudio: ${shown}/v1/<project_id>/digital-human-training-manage/user/jobs`,
          `  ICE:        ${shown}/?Action=ListAvatarTrainingJobs&Version=2020-11-09`,
          project.created
            ? `Created project "${project.name}" (${project.id}).`
            : `Default project: ${project.id}`,
          "Get credentials (in another terminal, same directory):",
          `  npx doppel key create --project ${project.id}     # AK/SK for both SDKs`,
          `  npx doppel token create --project ${project.id}   # X-Auth-Token for MetaStudio`,
          "",
        ].join("\n"),
      );
      const stop = async () => {
        await app.close();
        await runtime.close();
        process.exit(0);
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    },
  );
}
