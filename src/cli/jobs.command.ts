import { type Command, InvalidArgumentError, Option } from "commander";
import { isDoppelError } from "../domain/errors.js";
import { checkTags, MAX_TAG_LENGTH, MAX_TAGS, requiredText } from "../domain/job-fields.js";
// `npm run bench:upload` imports the uploader from here.
import { MAX_PARTS, partCountFor } from "../domain/parts.js";
import { ALL_STATES } from "../domain/states.js";
import type { ClientFlags } from "./api-client.js";
import { clientOf, commaListArg, hexIdArg, integer, withClientFlags } from "./client-flags.js";
import { followJob } from "./follow-job.js";
import { listText, printResult, showText, uploadText } from "./job-output.js";
import { DEFAULT_CONCURRENCY, putPart } from "./multipart-uploader.js";
import { forgetUploadState, loadUploadState, saveUploadState, uploadStateDir } from "./saved-upload.js";
import { uploadTrainingVideo } from "./training-video-upload.js";
import { checkUploadFile } from "./upload-file-check.js";

export { DEFAULT_CONCURRENCY, uploadParts } from "./multipart-uploader.js";

/** With `--file` and no `--parts`, one part per this many bytes (so a cut upload redoes at most this). */
const AUTO_PART_BYTES = 256 * 1024 * 1024;

const UPLOAD_CHOICE = `
Upload URLs: MetaStudio hands out a job's upload URLs only when the job is created (and when it is
updated after a failed check), and they are valid for 24 hours. \`doppel jobs create\` therefore saves
them in <tmpdir>/doppel-uploads/<job_id>.json on this machine (${uploadStateDir()}), and
\`doppel jobs upload\` reads them from there. \`doppel jobs create --file video.mp4\` creates and uploads in
one go. An interrupted upload is resumed by running \`doppel jobs upload\` again: parts the server already
has with the same MD5 are skipped.`;

/** `doppel jobs …`: training jobs on a running Doppel, through its MetaStudio API. */
export function registerJobsCommands(program: Command): void {
  const jobs = program
    .command("jobs")
    .description("create, upload, submit, show, list and delete training jobs on a running Doppel")
    .addHelpText("after", UPLOAD_CHOICE);

  withClientFlags(
    jobs.command("create").description("create a training job (and optionally upload its video)"),
  )
    .requiredOption("--name <name>", "job name (1 to 64 characters)", (v) => text("--name", v, 64))
    .option(
      "--parts <k>",
      `parts the training video is uploaded in, 1 to ${MAX_PARTS} (default 1; with --file one per 256 MiB)`,
      (v) => integer("--parts", v, 1, MAX_PARTS),
    )
    .option("--batch <name>", "batch name", (v) => text("--batch", v, 255))
    .option("--tag <tag...>", `tags (up to ${MAX_TAGS}, each up to ${MAX_TAG_LENGTH} characters)`)
    .option(
      "--file <video>",
      "also upload this video (MP4, MOV or WebM) and confirm it, as `jobs upload` does",
    )
    .option(
      "--consent <file>",
      "the person's consent, uploaded as the job's grant file: a video of them agreeing (checked against the training video), or a signed letter as PDF, JPEG or PNG (read by an operator)",
    )
    .addOption(concurrencyOption())
    .option("--json", "print JSON")
    .action(async (opts: CreateOpts, command: Command) => {
      // Trimmed first: the server receives trimmed tags, so their length counts without the spaces.
      const tags = checkTags(
        (opts.tag ?? []).map((tag) => tag.trim()),
        "--tag",
      );
      const file =
        opts.file === undefined
          ? undefined
          : await checkUploadFile("--file", opts.file, "training-video", opts.parts ?? 1);
      const consent =
        opts.consent === undefined
          ? undefined
          : await checkUploadFile("--consent", opts.consent, "grant-file");
      const parts = opts.parts ?? (file ? partCountFor(file.size, AUTO_PART_BYTES) : 1);
      const client = clientOf(command);
      const created = await client.createJob({
        name: opts.name,
        video_multipart_count: parts,
        ...(opts.batch !== undefined && { batch_name: opts.batch }),
        ...(tags.length > 0 && { tags }),
      });
      const saved = await saveUploadState(client, created);
      if (consent) {
        await putPart(
          created.grant_file_upload_url,
          consent.path,
          { partNumber: 1, start: 0, end: consent.size },
          // No agent: Node's default for the URL's protocol (an S3 presigned URL may be https).
          { signal: new AbortController().signal },
        ).catch((error: unknown) => {
          throw new Error(
            `the consent file of job ${created.job_id} was not uploaded: ${(error as Error).message}`,
          );
        });
        if (!opts.json) process.stdout.write(`consent uploaded: ${consent.path} (${consent.size} bytes)\n`);
      }
      if (!file) {
        printResult(
          opts.json,
          { ...created, upload_state_file: saved.path },
          [
            `created job ${created.job_id} (${parts} part${parts > 1 ? "s" : ""}), state WAIT_FILE_UPLOAD`,
            `upload URLs saved in ${saved.path} (valid until ${saved.expiresAt})`,
            `next: doppel jobs upload --job ${created.job_id} --file <video.mp4>`,
          ].join("\n"),
        );
        return;
      }
      if (!opts.json) {
        process.stdout.write(`created job ${created.job_id} (${parts} part${parts > 1 ? "s" : ""})\n`);
      }
      const summary = await uploadTrainingVideo(client, {
        jobId: created.job_id,
        file: file.path,
        urls: created.training_video_upload_url,
        concurrency: opts.concurrency,
        progress: true,
      });
      printResult(opts.json, { ...created, upload: summary }, uploadText(summary));
    });

  withClientFlags(
    jobs
      .command("upload")
      .description(
        "upload a job's training video in its parts (resumable), then confirm it; uses the upload URLs `jobs create` saved",
      ),
  )
    .requiredOption("--job <id>", "job id", jobIdArg)
    .requiredOption("--file <video>", "the video (MP4, MOV or WebM)")
    .option("--parts <k>", "parts of the job (checked against the job; set at create)", (v) =>
      integer("--parts", v, 1, MAX_PARTS),
    )
    .addOption(concurrencyOption())
    .option("--json", "print JSON")
    .addHelpText("after", UPLOAD_CHOICE)
    .action(async (opts: UploadOpts, command: Command) => {
      const saved = await loadUploadState(opts.job);
      if (opts.parts !== undefined && opts.parts !== saved.training_video_upload_url.length) {
        throw new Error(
          `job ${opts.job} was created with ${saved.training_video_upload_url.length} part(s); --parts ${opts.parts} does not match (leave it out)`,
        );
      }
      const file = await checkUploadFile(
        "--file",
        opts.file,
        "training-video",
        saved.training_video_upload_url.length,
      );
      const summary = await uploadTrainingVideo(clientOf(command), {
        jobId: opts.job,
        file: file.path,
        urls: saved.training_video_upload_url,
        concurrency: opts.concurrency,
        progress: true,
      });
      printResult(opts.json, summary, uploadText(summary));
    });

  withClientFlags(
    jobs.command("submit").description("submit an uploaded job for verification (SUBMITVERIFYING)"),
  )
    .requiredOption("--job <id>", "job id", jobIdArg)
    .option("--json", "print JSON")
    .action(async (opts: { job: string; json?: boolean }, command: Command) => {
      const client = clientOf(command);
      await client.command(opts.job, "SUBMITVERIFYING");
      await forgetUploadState(opts.job);
      const job = await client.showJob(opts.job);
      printResult(
        opts.json,
        { job_id: job.job_id, state: job.state },
        `submitted job ${job.job_id}: ${job.state}`,
      );
    });

  withClientFlags(jobs.command("show").description("show a job with its files and history"))
    .requiredOption("--job <id>", "job id", jobIdArg)
    .option("--json", "print the API's JSON")
    .option("--wait", "follow a submitted job until it succeeds or fails, printing each step as it happens")
    .action(async (opts: { job: string; json?: boolean; wait?: boolean }, command: Command) => {
      const client = clientOf(command);
      const job = opts.wait ? await followJob(client, opts.job) : await client.showJob(opts.job);
      printResult(opts.json, job, showText(job));
      if (/FAILED$|^JOB_REJECT$/.test(job.state)) process.exitCode = 1;
    });

  withClientFlags(jobs.command("list").description("list the project's jobs, oldest first"))
    .option(
      "--state <states>",
      "only these states (comma-separated, e.g. WAIT_FILE_UPLOAD,TRAINING)",
      stateArg,
    )
    .option("--limit <n>", "jobs per page, 1 to 100", (v) => integer("--limit", v, 1, 100), 10)
    .option("--offset <n>", "jobs to skip", (v) => integer("--offset", v, 0, 1_000_000_000), 0)
    .option("--json", "print the API's JSON")
    .action(
      async (opts: { state?: string; limit: number; offset: number; json?: boolean }, command: Command) => {
        const page = await clientOf(command).listJobs({
          state: opts.state,
          limit: opts.limit,
          offset: opts.offset,
        });
        printResult(opts.json, page, listText(page.jobs, page.count, opts.offset));
      },
    );

  withClientFlags(jobs.command("delete").description("delete a job and its files"))
    .requiredOption("--job <id>", "job id", jobIdArg)
    .action(async (opts: { job: string }, command: Command) => {
      await clientOf(command).deleteJob(opts.job);
      await forgetUploadState(opts.job);
      process.stdout.write(`deleted job ${opts.job}\n`);
    });
}

interface CreateOpts extends ClientFlags {
  name: string;
  parts?: number;
  batch?: string;
  tag?: string[];
  file?: string;
  consent?: string;
  concurrency: number;
  json?: boolean;
}

interface UploadOpts extends ClientFlags {
  job: string;
  file: string;
  parts?: number;
  concurrency: number;
  json?: boolean;
}

function concurrencyOption(): Option {
  return new Option("--concurrency <n>", "parts sent at once, 1 to 16")
    .argParser((v) => integer("--concurrency", v, 1, 16))
    .default(DEFAULT_CONCURRENCY);
}

// ---- argument checks -------------------------------------------------------------------------------

/** Trimmed, non-blank text of at most `max` characters, by the rule the server applies to what it gets. */
function text(flag: string, raw: string, max: number): string {
  try {
    return requiredText(flag, raw.trim(), max);
  } catch (error) {
    // The domain's INVALID_PARAMETER names the flag; as commander's own error it exits like a bad flag.
    if (isDoppelError(error)) throw new InvalidArgumentError(`${error.message}.`);
    throw error;
  }
}

const jobIdArg = hexIdArg("job", "`doppel jobs create` or `doppel jobs list`");

const stateArg = commaListArg(ALL_STATES, "state");
