import type { SecretBox } from "../auth/secret-box.js";
import type { Config } from "../config/config.js";
import { builtInStages, loadVerifyPolicy } from "./built-in.js";
import { EventSender } from "./event-sender.js";
import type { PipelineContext, PipelineLogger } from "./stage.js";
import { commandTrainer } from "./trainers/command.trainer.js";
import { Worker } from "./worker.js";

/**
 * A running pipeline worker and event sender; `stop` hands running tasks back to the queue, lets the
 * deliveries in flight finish and frees the models.
 */
export interface RunningPipeline {
  readonly worker: Worker;
  readonly sender: EventSender;
  stop(): Promise<void>;
}

/**
 * Starts the built-in stages as configured (`--stages`, `--concurrency`, `--trainer-command`,
 * policies), and the sender of webhook deliveries: every worker process sends events.
 */
export async function startPipeline(
  ctx: PipelineContext & { readonly secrets: SecretBox },
  log: PipelineLogger,
): Promise<RunningPipeline> {
  const stages = await builtInStages(ctx.config);
  const worker = new Worker(ctx, {
    handlers: stages.handlers,
    stages: ctx.config.pipeline.stages,
    concurrency: ctx.config.pipeline.concurrency,
    leaseMs: ctx.config.pipeline.leaseMs,
    log,
  });
  worker.start();
  const sender = new EventSender(ctx, { secrets: ctx.secrets, log });
  sender.start();
  log.info(
    { stages: worker.stages, concurrency: ctx.config.pipeline.concurrency, policy: stages.policy.name },
    "pipeline worker started",
  );
  return {
    worker,
    sender,
    async stop() {
      await Promise.all([worker.stop(), sender.stop()]);
      await stages.close();
    },
  };
}

/**
 * Checks the pipeline settings that config loading cannot (a policy file's content, the trainer
 * command's form), so `serve` and `worker` refuse to start with a readable error instead of failing
 * once they are already listening.
 */
export async function checkPipelineSettings(config: Config): Promise<void> {
  await loadVerifyPolicy(config.pipeline.verifyPolicy);
  if (config.pipeline.trainerCommand !== undefined) commandTrainer(config.pipeline.trainerCommand);
}
