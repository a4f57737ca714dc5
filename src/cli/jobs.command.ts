// Over 400 lines because the resumable multipart uploader, the saved upload state, the progress bar
// and the output formatting still live beside the commands; issue 9 moves each into its own module.
import { createHash } from "node:crypto";
import { setMaxListeners } from "node:events";
import { createReadStream } from "node:fs";
import { chmod, mkdir, open, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import { fileTypeFromBuffer } from "file-type";
import { UPLOAD_STATES } from "../domain/job-commands.js";
import { ACCEPTED_TYPES } from "../domain/job-files.js";
import { ALL_STATES, type JobState } from "../domain/states.js";
import {
  type ApiError,
  apiErrorOf,
  type ClientFlags,
  type CreateJobResponse,
  clientSettings,
  DEFAULT_ENDPOINT,
  DoppelClient,
  type JobDetail,
  type JobInfo,
  networkError,
} from "./api-client.js";

/**
 * Parts sent at once. Measured with `npm run bench:upload` (1 GiB in 10 parts over loopback into one
 * server process on a 2-core machine, best of 2 rounds): 1 at once 145 MB/s, 2 at once 180 MB/s,
 * 3 at once 176 MB/s. With one part in flight the server idles while a part's file is fsynced and the
 * next request starts; beyond 2 the server's hashing and disk are the limit. Over a real network 2
 * streams also ride out one slow connection better than one.
 */
export const DEFAULT_CONCURRENCY = 2;

/** With `--file` and no `--parts`, one part per this many bytes (so a cut upload redoes at most this). */
const AUTO_PART_BYTES = 256 * 1024 * 1024;

/** Read size for parts: large reads keep syscalls and HTTP chunks few. */
const CHUNK_BYTES = 1024 * 1024;

const MAX_PARTS = 1000;
const JOB_ID = /^[0-9a-f]{32}$/;

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
    .option("--tag <tag...>", "tags (up to 20, each up to 64 characters)")
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
      const tags = checkTags(opts.tag ?? []);
      const file =
        opts.file === undefined
          ? undefined
          : await checkUploadFile("--file", opts.file, "training-video", opts.parts ?? 1);
      const consent =
        opts.consent === undefined
          ? undefined
          : await checkUploadFile("--consent", opts.consent, "grant-file");
      const parts = opts.parts ?? (file ? Math.min(MAX_PARTS, Math.ceil(file.size / AUTO_PART_BYTES)) : 1);
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
          { agent: new http.Agent(), signal: new AbortController().signal },
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
      await unlink(uploadStatePath(opts.job)).catch(() => {});
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
      await unlink(uploadStatePath(opts.job)).catch(() => {});
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

/** The connection flags every `jobs` command takes. */
function withClientFlags(command: Command): Command {
  return command
    .option("--endpoint <url>", `Doppel's URL [env DOPPEL_ENDPOINT, default ${DEFAULT_ENDPOINT}]`)
    .option("--access-key <id>", "access key id from `doppel key create` [env DOPPEL_ACCESS_KEY_ID]")
    .option("--secret-key <secret>", "its secret access key [env DOPPEL_SECRET_ACCESS_KEY]")
    .option("--project <id>", "project id [env DOPPEL_PROJECT_ID]")
    .option(
      "--token <token>",
      "X-Auth-Token from `doppel token create`, instead of a key [env DOPPEL_TOKEN]",
    );
}

function concurrencyOption(): Option {
  return new Option("--concurrency <n>", "parts sent at once, 1 to 16")
    .argParser((v) => integer("--concurrency", v, 1, 16))
    .default(DEFAULT_CONCURRENCY);
}

function clientOf(command: Command): DoppelClient {
  return new DoppelClient(clientSettings(command.opts<ClientFlags>()));
}

function printResult(json: boolean | undefined, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
}

// ---- argument checks -------------------------------------------------------------------------------

function integer(flag: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new InvalidArgumentError(`${flag} must be a whole number from ${min} to ${max}.`);
  }
  return Number(raw);
}

function text(flag: string, raw: string, max: number): string {
  const value = raw.trim();
  if (value === "") throw new InvalidArgumentError(`${flag} must not be empty.`);
  if (value.length > max) throw new InvalidArgumentError(`${flag} is longer than ${max} characters.`);
  return value;
}

function jobIdArg(raw: string): string {
  const value = raw.trim();
  if (!JOB_ID.test(value)) {
    throw new InvalidArgumentError(
      "expected a job id: 32 lowercase hexadecimal characters, as `doppel jobs create` or `doppel jobs list` print it.",
    );
  }
  return value;
}

function stateArg(raw: string): string {
  const states = raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const unknown = states.filter((s) => !(ALL_STATES as readonly string[]).includes(s));
  if (states.length === 0 || unknown.length > 0) {
    throw new InvalidArgumentError(
      `${unknown.length > 0 ? `unknown state ${unknown.join(", ")}` : "no state given"}; states are ${ALL_STATES.join(", ")}.`,
    );
  }
  return states.join(",");
}

function checkTags(tags: readonly string[]): string[] {
  const checked = tags.map((t) => text("--tag", t, 64));
  if (checked.length > 20) throw new Error(`at most 20 tags (got ${checked.length})`);
  return [...new Set(checked)];
}

/**
 * A readable, non-empty regular file of at least one byte per part, whose first bytes say it is of a
 * kind the server takes in `slot` — checked here so a wrong file fails before anything is sent.
 */
async function checkUploadFile(
  flag: string,
  path: string,
  slot: "training-video" | "grant-file",
  parts = 1,
): Promise<{ path: string; size: number }> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error(`${flag} ${path} is not a regular file`);
    size = info.size;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new Error(`${flag} ${path} does not exist`);
    if (code === "EACCES") throw new Error(`${flag} ${path} cannot be read (permission denied)`);
    throw error;
  }
  if (size === 0) throw new Error(`${flag} ${path} is empty`);
  if (size < parts) throw new Error(`${flag} ${path} has ${size} bytes, fewer than its ${parts} parts`);
  const handle = await open(path, "r");
  let head: Buffer;
  try {
    const buffer = Buffer.alloc(Math.min(size, 4100));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    head = buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  const mime = (await fileTypeFromBuffer(head))?.mime;
  const accepted = ACCEPTED_TYPES[slot];
  if (mime === undefined || !accepted.includes(mime)) {
    const what = slot === "training-video" ? "the training video" : "a consent file";
    throw new Error(
      `${flag} ${path} is ${mime ?? "of an unrecognised kind"}; ${what} must be one of ${accepted.join(", ")}`,
    );
  }
  return { path, size };
}

// ---- saved upload URLs -----------------------------------------------------------------------------

interface UploadState {
  readonly job_id: string;
  readonly endpoint: string;
  readonly project_id: string;
  readonly created_at: string;
  readonly expires_at: string;
  readonly training_video_upload_url: string[];
}

function uploadStateDir(): string {
  return join(tmpdir(), "doppel-uploads");
}

export function uploadStatePath(jobId: string): string {
  return join(uploadStateDir(), `${jobId}.json`);
}

/** Saves a new job's upload URLs (owner-only: they are credentials for 24 hours). */
async function saveUploadState(
  client: DoppelClient,
  created: CreateJobResponse,
): Promise<{ path: string; expiresAt: string }> {
  const expires = Number(
    new URL(created.training_video_upload_url[0] ?? "http://x/").searchParams.get("expires"),
  );
  const expiresAt =
    Number.isFinite(expires) && expires > 0 ? new Date(expires * 1000).toISOString() : "unknown";
  const state: UploadState = {
    job_id: created.job_id,
    endpoint: client.endpoint,
    project_id: client.settings.projectId,
    created_at: new Date().toISOString(),
    expires_at: expiresAt,
    training_video_upload_url: created.training_video_upload_url,
  };
  const dir = uploadStateDir();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = uploadStatePath(created.job_id);
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await chmod(temp, 0o600);
  await rename(temp, path);
  return { path, expiresAt };
}

async function loadUploadState(jobId: string): Promise<UploadState> {
  const path = uploadStatePath(jobId);
  let raw: string;
  try {
    raw = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    throw new Error(
      `no upload URLs saved for job ${jobId} (${path}). MetaStudio gives upload URLs only when a job is created, so \`doppel jobs upload\` uses the ones \`doppel jobs create\` saved on this machine. Upload from the machine (and TMPDIR) that created the job, or create a new job with \`doppel jobs create --file <video>\``,
    );
  }
  let state: UploadState;
  try {
    state = JSON.parse(raw) as UploadState;
  } catch {
    throw new Error(`${path} is not valid JSON; delete it and create the job again`);
  }
  const urls = state.training_video_upload_url;
  if (!Array.isArray(urls) || urls.length === 0 || !urls.every((u) => typeof u === "string")) {
    throw new Error(`${path} has no training_video_upload_url list; delete it and create the job again`);
  }
  const expires = Date.parse(state.expires_at);
  if (Number.isFinite(expires) && expires <= Date.now()) {
    throw new Error(
      `the upload URLs of job ${jobId} expired at ${state.expires_at} (they are valid for 24 hours after create). MetaStudio issues no new ones for a job waiting for its upload: delete it (doppel jobs delete --job ${jobId}) and create it again`,
    );
  }
  return state;
}

// ---- uploading -------------------------------------------------------------------------------------

export interface PartRange {
  readonly partNumber: number;
  /** First byte, inclusive. */
  readonly start: number;
  /** Last byte + 1. */
  readonly end: number;
}

/** Splits `size` bytes into `parts` byte ranges whose lengths differ by at most one, in order. */
export function partRanges(size: number, parts: number): PartRange[] {
  return Array.from({ length: parts }, (_, i) => ({
    partNumber: i + 1,
    start: Math.floor((i * size) / parts),
    end: Math.floor(((i + 1) * size) / parts),
  }));
}

export interface PartResult {
  readonly partNumber: number;
  readonly bytes: number;
  readonly md5: string;
  /** `skipped`: the server had this part with the same MD5 already. */
  readonly status: "skipped" | "sent";
}

export interface UploadPartsOptions {
  readonly file: string;
  readonly size: number;
  /** One upload URL per part, in part order. */
  readonly urls: readonly string[];
  /** Parts the server has already (GET_MULTIPART_UPLOADED): part number → etag (MD5). */
  readonly present?: ReadonlyMap<number, string>;
  readonly concurrency?: number;
  /** Called as bytes are sent (or found already uploaded). */
  readonly onBytes?: (bytes: number) => void;
  readonly onPart?: (result: PartResult) => void;
}

/**
 * Streams each part of `file` to its URL, `concurrency` at a time, skipping parts the server already has
 * with the same MD5. Each part is hashed as it streams and must come back with that MD5 as its ETag.
 * The first failure stops the other parts and is thrown.
 */
export async function uploadParts(options: UploadPartsOptions): Promise<PartResult[]> {
  const ranges = partRanges(options.size, options.urls.length);
  const results: PartResult[] = [];
  const abort = new AbortController();
  // One abort listener per part in flight; up to 16 are expected, not a leak.
  setMaxListeners(64, abort.signal);
  const agent = new http.Agent({ keepAlive: true });
  const secureAgent = new https.Agent({ keepAlive: true });
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (failure === undefined) {
      const range = ranges[next++];
      if (range === undefined) return;
      const url = options.urls[range.partNumber - 1] as string;
      try {
        const result = await uploadPart(range, url);
        results.push(result);
        options.onPart?.(result);
      } catch (error) {
        if (failure === undefined) failure = error;
        abort.abort();
      }
    }
  };
  const uploadPart = async (range: PartRange, url: string): Promise<PartResult> => {
    const bytes = range.end - range.start;
    const etag = options.present?.get(range.partNumber);
    if (etag !== undefined) {
      const md5 = await md5OfRange(options.file, range, abort.signal);
      if (md5 === etag.toLowerCase()) {
        options.onBytes?.(bytes);
        return { partNumber: range.partNumber, bytes, md5, status: "skipped" };
      }
    }
    const sent = await putPart(url, options.file, range, {
      agent: url.startsWith("https:") ? secureAgent : agent,
      signal: abort.signal,
      onBytes: options.onBytes,
    });
    if (sent.etag !== sent.md5) {
      throw new Error(
        `part ${range.partNumber} arrived altered: the server stored MD5 ${sent.etag}, the file's bytes have ${sent.md5}; run the upload again`,
      );
    }
    return { partNumber: range.partNumber, bytes, md5: sent.md5, status: "sent" };
  };
  try {
    const workers = Math.max(1, Math.min(options.concurrency ?? DEFAULT_CONCURRENCY, ranges.length));
    await Promise.all(Array.from({ length: workers }, worker));
  } finally {
    agent.destroy();
    secureAgent.destroy();
  }
  if (failure !== undefined) throw failure;
  return results.sort((a, b) => a.partNumber - b.partNumber);
}

async function md5OfRange(file: string, range: PartRange, signal: AbortSignal): Promise<string> {
  const hash = createHash("md5");
  const stream = createReadStream(file, {
    start: range.start,
    end: range.end - 1,
    highWaterMark: CHUNK_BYTES,
    signal,
  });
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * PUTs one byte range of a file with a Content-Length (node:http rather than fetch, which can only send
 * a stream chunked) and resolves with the ETag the server answered and the MD5 of what was sent.
 */
function putPart(
  url: string,
  file: string,
  range: PartRange,
  options: { agent: http.Agent; signal: AbortSignal; onBytes?: ((bytes: number) => void) | undefined },
): Promise<{ etag: string; md5: string }> {
  const target = new URL(url);
  const what = `part ${range.partNumber}`;
  return new Promise((resolve, reject) => {
    const hash = createHash("md5");
    const source = createReadStream(file, {
      start: range.start,
      end: range.end - 1,
      highWaterMark: CHUNK_BYTES,
    });
    const request = (target.protocol === "https:" ? https : http).request(target, {
      method: "PUT",
      agent: options.agent,
      headers: {
        "content-type": "application/octet-stream",
        "content-length": String(range.end - range.start),
      },
    });
    let settled = false;
    let answered = false;
    let sourceDone = false;
    const onAbort = () => settle(new Error(`${what}: stopped because another part failed`));
    function settle(error: unknown, value?: { etag: string; md5: string }): void {
      if (settled) return;
      settled = true;
      options.signal.removeEventListener("abort", onAbort);
      if (value === undefined) {
        source.destroy();
        request.destroy();
        reject(error);
      } else resolve(value);
    }

    request.on("response", (response) => {
      answered = true;
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("error", (error) => settle(error));
      response.on("close", () => {
        if (!response.complete)
          settle(new Error(`${what}: the connection closed in the middle of the answer`));
      });
      response.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const status = response.statusCode ?? 0;
        if (status !== 200) {
          settle(uploadError(apiErrorOf(status, body, `the upload URL of ${what}`), range.partNumber));
        } else if (!sourceDone) {
          settle(new Error(`${what}: the server answered before the whole part was sent`));
        } else {
          const etag = String(response.headers.etag ?? "").replace(/^(W\/)?"|"$/g, "");
          settle(undefined, { etag: etag.toLowerCase(), md5: hash.digest("hex") });
        }
      });
    });
    request.on("error", (error) => {
      // When the server refused the part and closed the connection, its answer explains it better.
      if (answered) return;
      const reworded = networkError(error, url, target.origin);
      settle(reworded ? new Error(`${what}: ${reworded.message}`) : error);
    });
    source.on("data", (chunk) => {
      hash.update(chunk as Buffer);
      options.onBytes?.(chunk.length);
    });
    source.on("end", () => {
      sourceDone = true;
    });
    source.on("error", (error) => settle(error));
    options.signal.addEventListener("abort", onAbort);
    if (options.signal.aborted) onAbort();
    else source.pipe(request);
  });
}

/** A refused upload; an expired or altered URL cannot be renewed for a job waiting for its upload. */
function uploadError(error: ApiError, part: number): Error {
  if (error.status === 403) {
    return new Error(
      `part ${part}: ${error.message}. Upload URLs are valid for 24 hours after \`doppel jobs create\` and cannot be renewed for a job waiting for its upload; delete the job and create it again`,
    );
  }
  return new Error(`part ${part}: ${error.message}`);
}

export interface UploadSummary {
  readonly job_id: string;
  readonly size: number;
  readonly parts: readonly PartResult[];
  /** SHA-256 of the assembled video, as the server recorded it. */
  readonly sha256: string | undefined;
}

/**
 * The whole upload of a job's training video: checks the job, asks which parts are there already,
 * sends the others, then assembles them with CONFIRM_MULTIPART_UPLOADED.
 */
export async function uploadTrainingVideo(
  client: DoppelClient,
  options: { jobId: string; file: string; urls: readonly string[]; concurrency?: number; progress?: boolean },
): Promise<UploadSummary> {
  const { jobId, file, urls } = options;
  const job = await client.showJob(jobId);
  if (!UPLOAD_STATES.includes(job.state as JobState)) {
    throw new Error(
      `job ${jobId} is in state ${job.state}; its training video can be uploaded only in ${UPLOAD_STATES.join(", ")}`,
    );
  }
  if (job.video_multipart_count !== urls.length) {
    throw new Error(
      `job ${jobId} now takes ${job.video_multipart_count} part(s) but ${urls.length} upload URL(s) were saved; it was updated since it was created, so its saved URLs no longer apply`,
    );
  }
  const { size } = await stat(file);
  const listed = await client.command(jobId, "GET_MULTIPART_UPLOADED");
  const present = new Map((listed.multipart_data ?? []).map((p) => [p.part_number, p.etag]));
  const bar = options.progress ? new UploadProgress(size, urls.length) : undefined;
  let parts: PartResult[];
  try {
    parts = await uploadParts({
      file,
      size,
      urls,
      present,
      concurrency: options.concurrency,
      onBytes: (n) => bar?.bytes(n),
      onPart: (result) => bar?.part(result),
    });
  } finally {
    bar?.end();
  }
  bar?.note(`assembling ${urls.length} part${urls.length > 1 ? "s" : ""} on the server…`);
  await client.command(jobId, "CONFIRM_MULTIPART_UPLOADED");
  const after = await client.showJob(jobId);
  const log = after.operation_logs.filter((l) => l.log_type === "CONFIRM_MULTIPART_UPLOADED").at(-1);
  const sha256 = /sha256 ([0-9a-f]{64})/.exec(log?.log_description ?? "")?.[1];
  return { job_id: jobId, size, parts, sha256 };
}

function uploadText(summary: UploadSummary): string {
  const total = summary.parts.length;
  const lines = summary.parts.map((p) =>
    p.status === "skipped"
      ? `part ${p.partNumber}/${total}: already uploaded, skipped (${formatBytes(p.bytes)}, md5 ${p.md5})`
      : `part ${p.partNumber}/${total}: sent ${formatBytes(p.bytes)} (md5 ${p.md5})`,
  );
  lines.push(
    `assembled ${total} part${total > 1 ? "s" : ""}: ${summary.size} bytes${summary.sha256 ? `, sha256 ${summary.sha256}` : ""}`,
    `next: doppel jobs submit --job ${summary.job_id}`,
  );
  return lines.join("\n");
}

/** Upload progress on stderr: a bar redrawn in place on a terminal, one line per part otherwise. */
class UploadProgress {
  readonly #out = process.stderr;
  readonly #tty = process.stderr.isTTY === true;
  readonly #started = performance.now();
  #done = 0;
  /** Bytes of finished parts (#done also counts parts still in flight). */
  #partBytes = 0;
  #parts = 0;
  #drawnAt = 0;

  constructor(
    readonly total: number,
    readonly partCount: number,
  ) {}

  bytes(n: number): void {
    this.#done += n;
    if (this.#tty && performance.now() - this.#drawnAt > 100) this.#draw();
  }

  part(result: PartResult): void {
    this.#parts += 1;
    this.#partBytes += result.bytes;
    if (this.#tty) {
      this.#draw();
      return;
    }
    const verb = result.status === "skipped" ? "already uploaded" : "sent";
    this.#out.write(
      `part ${result.partNumber}/${this.partCount} ${verb} (${formatBytes(result.bytes)}); ${this.#parts}/${this.partCount} parts, ${this.#percent(this.#partBytes)}% of ${formatBytes(this.total)}\n`,
    );
  }

  end(): void {
    if (this.#tty) {
      this.#draw();
      this.#out.write("\n");
    }
  }

  note(message: string): void {
    this.#out.write(`${message}\n`);
  }

  #percent(bytes = this.#done): number {
    return Math.floor((bytes / Math.max(1, this.total)) * 100);
  }

  #draw(): void {
    this.#drawnAt = performance.now();
    const pct = this.#percent();
    const bar = "#".repeat(Math.floor(pct / 4)).padEnd(25, ".");
    const seconds = (performance.now() - this.#started) / 1000;
    const rate = seconds > 0 ? `  ${formatBytes(this.#done / seconds)}/s` : "";
    this.#out.write(
      `\r[${bar}] ${String(pct).padStart(3)}% ${formatBytes(this.#done)}/${formatBytes(this.total)}  ${this.#parts}/${this.partCount} parts${rate}   `,
    );
  }
}

function formatBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

// ---- show and list ---------------------------------------------------------------------------------

/** States a waiting `jobs show --wait` stops at: the job needs nobody but its owner any more. */
const SETTLED =
  /FAILED$|^(JOB_SUCCESS|WAIT_USER_CONFIRM|JOB_FINISH|JOB_REJECT|JOB_PENDING|WAIT_FILE_UPLOAD)$/;

/** Polls a job, printing each new history entry to stderr, until its state settles. */
async function followJob(client: ReturnType<typeof clientOf>, jobId: string): Promise<JobDetail> {
  let printed = 0;
  for (;;) {
    const job = await client.showJob(jobId);
    for (const log of job.operation_logs.slice(printed)) {
      process.stderr.write(`${log.operate_time}  ${log.log_type.padEnd(28)} ${log.log_description}\n`);
      for (const reason of log.redo_reasons ?? []) process.stderr.write(`      - ${reason}\n`);
    }
    printed = job.operation_logs.length;
    if (SETTLED.test(job.state)) return job;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

function showText(job: JobDetail): string {
  const rows: Array<[string, string | undefined]> = [
    ["job_id", job.job_id],
    ["name", job.name],
    ["state", job.state],
    ["project_id", job.project_id],
    ["created", job.create_time],
    ["updated", job.last_update_time],
    ["batch", job.batch_name],
    ["tags", job.tags.length > 0 ? job.tags.join(", ") : undefined],
    ["model", `${job.model_version} ${job.model_resolution}, matting ${job.matting_type}`],
    ["video parts", String(job.video_multipart_count)],
    ["training video", job.training_video_download_url],
    ["asset", job.asset_id],
    ["cover", job.cover_download_url],
  ];
  const lines = rows
    .filter((row): row is [string, string] => row[1] !== undefined)
    .map(([k, v]) => `${`${k}:`.padEnd(16)}${v}`);
  lines.push("history:");
  for (const log of job.operation_logs) {
    lines.push(`  ${log.operate_time}  ${log.log_type.padEnd(28)} ${log.log_description}`);
    for (const reason of log.redo_reasons ?? []) lines.push(`      - ${reason}`);
  }
  return lines.join("\n");
}

function listText(jobs: readonly JobInfo[], count: number, offset: number): string {
  if (jobs.length === 0) return count === 0 ? "no jobs" : `no jobs at offset ${offset} (${count} in all)`;
  const header = ["JOB ID", "STATE", "CREATED", "NAME", "BATCH", "TAGS"];
  const rows = jobs.map((j) => [
    j.job_id,
    j.state,
    j.create_time,
    clip(j.name, 32),
    clip(j.batch_name ?? "", 20),
    clip(j.tags.join(","), 30),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const format = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  const last = offset + jobs.length;
  const footer =
    last < count
      ? `jobs ${offset + 1}-${last} of ${count}; next page: --offset ${last}`
      : `jobs ${offset + 1}-${last} of ${count}`;
  return [format(header), ...rows.map(format), footer].join("\n");
}

function clip(value: string, max: number): string {
  return value.length > max ? `${value.slice(0, max - 1)}…` : value;
}
