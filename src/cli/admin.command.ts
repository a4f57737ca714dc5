import type { Command } from "commander";
import { createProject, listAllProjects } from "../services/admin.service.js";
import { seedJobs } from "../services/seed.service.js";
import { withConfigFlags } from "./config-flags.js";
import { print, withRuntime } from "./with-runtime.js";

/**
 * Admin commands. They open the same database as `doppel serve` (same flags and env), so they work
 * whether or not the server is running: SQLite in WAL mode and PostgreSQL both allow a second writer.
 */
export function registerAdminCommands(program: Command): void {
  withConfigFlags(
    program.command("migrate").description("apply pending database migrations and exit"),
  ).action((_o, command: Command) =>
    withRuntime(command, async (runtime) => {
      process.stdout.write(`database ${runtime.database.description} is up to date\n`);
    }),
  );

  const project = program.command("project").description("manage projects (tenants)");
  withConfigFlags(project.command("create").description("create a project"))
    .requiredOption("--name <name>", "project name")
    .option("--json", "print JSON")
    .action((opts: { name: string; json?: boolean }, command: Command) =>
      withRuntime(command, async (runtime) => {
        const created = await createProject(runtime, opts.name);
        print(
          opts.json,
          { project_id: created.id, name: created.name },
          `created project ${created.name}: ${created.id}`,
        );
      }),
    );
  withConfigFlags(project.command("list").description("list projects"))
    .option("--json", "print JSON")
    .action((opts: { json?: boolean }, command: Command) =>
      withRuntime(command, async (runtime) => {
        const projects = (await listAllProjects(runtime)).map((p) => ({ project_id: p.id, name: p.name }));
        print(
          opts.json,
          projects,
          projects.map((p) => `${p.project_id}  ${p.name}`).join("\n") || "no projects",
        );
      }),
    );

  withConfigFlags(program.command("seed").description("fill a project with realistic demo jobs"))
    .requiredOption("--project <id>", "project to fill")
    .requiredOption("--jobs <n>", "number of jobs", (v) => positiveInteger("--jobs", v))
    .option("--seed <s>", "random seed", (v) => positiveInteger("--seed", v), 1)
    .action((opts: { project: string; jobs: number; seed: number }, command: Command) =>
      withRuntime(command, async (runtime) => {
        const started = Date.now();
        const progress = progressPrinter(opts.jobs);
        await seedJobs(runtime, {
          projectId: opts.project,
          jobs: opts.jobs,
          seed: opts.seed,
          onProgress: progress,
        });
        process.stderr.write("\n");
        process.stdout.write(
          `seeded ${opts.jobs} jobs into ${opts.project} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
        );
      }),
    );
}

function positiveInteger(flag: string, raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new Error(`${flag} must be a positive whole number`);
  return Number(raw);
}

/** A one-line progress indicator on stderr (only when it is a terminal, so pipes stay clean). */
function progressPrinter(total: number): (written: number) => void {
  return (written) => {
    if (!process.stderr.isTTY) return;
    const pct = Math.floor((written / total) * 100);
    const bar = "#".repeat(Math.floor(pct / 4)).padEnd(25, ".");
    process.stderr.write(`\r[${bar}] ${pct}% ${written}/${total} jobs`);
  };
}
