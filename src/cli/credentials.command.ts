import type { Command } from "commander";
import { createAccessKey, createToken } from "../services/admin.service.js";
import { createAdminToken } from "../services/admin-tokens.service.js";
import {
  listOperatorTokens,
  listProjectAccessKeys,
  revokeOperatorTokens,
  revokeProjectAccessKey,
  revokeProjectToken,
} from "../services/credentials.service.js";
import { withConfigFlags } from "./config-flags.js";
import { print, withRuntime } from "./with-runtime.js";

const DAY_MS = 24 * 3600 * 1000;

/**
 * `doppel key`, `doppel token` and `doppel admin-token`: issue, list and revoke credentials. Secrets
 * are printed once, at creation; listings never show them. A revocation takes effect in every running
 * server process within 5 seconds.
 */
export function registerCredentialCommands(program: Command): void {
  const key = program.command("key").description("manage access keys (AK/SK)");
  withConfigFlags(key.command("create").description("create an AK/SK pair"))
    .requiredOption("--project <id>", "project the key belongs to")
    .option("--json", "print JSON")
    .action((opts: { project: string; json?: boolean }, command: Command) =>
      withRuntime(command, async (runtime) => {
        const issued = await createAccessKey(runtime, opts.project);
        print(
          opts.json,
          issued,
          `access_key_id:     ${issued.access_key_id}\nsecret_access_key: ${issued.secret_access_key}\nproject_id:        ${issued.project_id}\n(the secret is shown only now)`,
        );
      }),
    );
  withConfigFlags(key.command("list").description("list a project's access keys (never their secrets)"))
    .requiredOption("--project <id>", "project whose keys to list")
    .option("--json", "print JSON")
    .action((opts: { project: string; json?: boolean }, command: Command) =>
      withRuntime(command, async (runtime) => {
        const keys = await listProjectAccessKeys(runtime, opts.project);
        printRows(opts.json, keys, "no access keys", (k) =>
          row(k.access_key_id, k, `last used ${k.last_used_at ?? "never"}`),
        );
      }),
    );
  withConfigFlags(key.command("revoke").description("revoke an access key for good"))
    .requiredOption("--access-key <id>", "the access key id")
    .option("--json", "print JSON")
    .action((opts: { accessKey: string; json?: boolean }, command: Command) =>
      withRuntime(command, async (runtime) => {
        const revoked = await revokeProjectAccessKey(runtime, opts.accessKey);
        print(
          opts.json,
          revoked,
          `revoked access key ${revoked.access_key_id} of project ${revoked.project_id} at ${revoked.revoked_at}; servers refuse it within 5 seconds`,
        );
      }),
    );

  const token = program.command("token").description("manage X-Auth-Tokens");
  withConfigFlags(token.command("create").description("create a token"))
    .requiredOption("--project <id>", "project the token belongs to")
    .option("--json", "print JSON")
    .action((opts: { project: string; json?: boolean }, command: Command) =>
      withRuntime(command, async (runtime) => {
        const issued = await createToken(runtime, opts.project);
        print(
          opts.json,
          issued,
          `X-Auth-Token: ${issued.token}\nproject_id:   ${issued.project_id}\nexpires_at:   ${issued.expires_at}`,
        );
      }),
    );
  withConfigFlags(token.command("revoke").description("revoke a token before it expires"))
    .requiredOption("--token <token>", "the token itself (only its hash is stored)")
    .option("--json", "print JSON")
    .action((opts: { token: string; json?: boolean }, command: Command) =>
      withRuntime(command, async (runtime) => {
        const revoked = await revokeProjectToken(runtime, opts.token);
        print(
          opts.json,
          revoked,
          `revoked the X-Auth-Token of project ${revoked.project_id}; servers refuse it within 5 seconds`,
        );
      }),
    );

  const admin = program
    .command("admin-token")
    .description("manage operator tokens for the admin API and the worker protocol");
  withConfigFlags(admin.command("create").description("create an operator token"))
    .requiredOption("--name <name>", "who the token is for (shown in the jobs' history)")
    .option("--expires-in-days <days>", "lifetime, 1 to 3650 days", (v) => days(v), 365)
    .option("--json", "print JSON")
    .action((opts: { name: string; expiresInDays: number; json?: boolean }, command: Command) =>
      withRuntime(command, async (runtime) => {
        const issued = await createAdminToken(runtime, opts.name, opts.expiresInDays * DAY_MS);
        print(
          opts.json,
          issued,
          `Authorization: Bearer ${issued.token}\noperator:      ${issued.name}\nexpires_at:    ${issued.expires_at}`,
        );
      }),
    );
  withConfigFlags(admin.command("list").description("list operator tokens (never the tokens)"))
    .option("--json", "print JSON")
    .action((opts: { json?: boolean }, command: Command) =>
      withRuntime(command, async (runtime) => {
        const tokens = await listOperatorTokens(runtime);
        printRows(opts.json, tokens, "no operator tokens", (t) => row(t.name, t, `expires ${t.expires_at}`));
      }),
    );
  withConfigFlags(admin.command("revoke").description("revoke every live operator token of a name"))
    .requiredOption("--name <name>", "the operator")
    .option("--json", "print JSON")
    .action((opts: { name: string; json?: boolean }, command: Command) =>
      withRuntime(command, async (runtime) => {
        const revoked = await revokeOperatorTokens(runtime, opts.name);
        print(
          opts.json,
          revoked,
          `revoked ${revoked.revoked} operator token(s) of ${revoked.name}; servers refuse them within 5 seconds`,
        );
      }),
    );
}

/** A listing: JSON with `--json`, else one line per credential (or `none`). */
function printRows<T>(json: boolean | undefined, rows: T[], none: string, line: (row: T) => string): void {
  print(json, rows, rows.map(line).join("\n") || none);
}

/** `<id>  <status>  created …  <revoked … | detail>`: one credential for people. */
function row(
  id: string,
  credential: { status: string; created_at: string; revoked_at: string | null },
  detail: string,
): string {
  const last = credential.revoked_at ? `revoked ${credential.revoked_at}` : detail;
  return `${id}  ${credential.status.padEnd(7)}  created ${credential.created_at}  ${last}`;
}

function days(raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 3650) {
    throw new Error("--expires-in-days must be a whole number from 1 to 3650");
  }
  return Number(raw);
}
