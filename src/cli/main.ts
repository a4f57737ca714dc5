#!/usr/bin/env node
import { Command } from "commander";
import { isDoppelError } from "../domain/errors.js";
import { registerAdminCommands } from "./admin.command.js";
import { registerAssetsCommands } from "./assets.command.js";
import { registerCredentialCommands } from "./credentials.command.js";
import { registerJobsCommands } from "./jobs.command.js";
import { registerServeCommand } from "./serve.command.js";
import { registerWebhookCommands } from "./webhook.command.js";
import { registerWorkerCommand } from "./worker.command.js";

const program = new Command()
  .name("doppel")
  .description("Self-hosted digital-human training service speaking Alibaba ICE and Huawei MetaStudio APIs")
  .showHelpAfterError();
registerServeCommand(program);
registerWorkerCommand(program);
registerAdminCommands(program);
registerCredentialCommands(program);
registerJobsCommands(program);
registerAssetsCommands(program);
registerWebhookCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.stderr.write(
    `doppel: ${isDoppelError(error) || error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exitCode = 1;
}
