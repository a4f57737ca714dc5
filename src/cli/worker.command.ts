import type { Command } from "commander";
import pino from "pino";
import { checkPipelineSettings, startPipeline } from "../pipeline/run-pipeline.js";
import { openRuntime } from "../services/runtime.js";
import { configOf, withConfigFlags } from "./config-flags.js";

/**
 * `doppel worker`: runs pipeline stages in this process against the configured database and blob
 * store, beside (or instead of) the workers of `doppel serve`. Any number may run; they share the
 * queue through the database. SIGINT/SIGTERM hand running tasks back before exiting.
 */
export function registerWorkerCommand(program: Command): void {
  withConfigFlags(
    program.command("worker").description("run pipeline stages (verify, review, preprocess, train, package)"),
  ).action(async (_opts, command: Command) => {
    const config = configOf(command);
    await checkPipelineSettings(config);
    const log = pino({ level: config.logLevel });
    const runtime = await openRuntime(config);
    const pipeline = await startPipeline(runtime, log);
    const stop = async () => {
      await pipeline.stop();
      await runtime.close();
      process.exit(0);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}
