import { spawn } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { pipeline, type Readable, Writable } from "node:stream";

/**
 * Locating and running ffmpeg and ffprobe. Every media operation of the pipeline goes through
 * `runFfmpeg` / `runFfprobe`, so the rules that keep a worker healthy live here once: a child is
 * SIGKILLed when its job is cancelled and always waited for (no zombies, no orphaned encoders), only
 * the last lines of stderr are kept (a chatty ffmpeg cannot grow the heap), and a pipe closed early
 * by either side (EPIPE) is a normal outcome, never an uncaught exception that takes the process down.
 */

/** Absolute paths of the two binaries. */
export interface MediaTools {
  readonly ffmpeg: string;
  readonly ffprobe: string;
}

type ToolName = keyof MediaTools;

const ENV_OVERRIDES: Readonly<Record<ToolName, string>> = {
  ffmpeg: "DOPPEL_FFMPEG",
  ffprobe: "DOPPEL_FFPROBE",
};

/** The npm packages that ship a static build, the last resort when the system has none. */
const NPM_PACKAGES: Readonly<Record<ToolName, string>> = {
  ffmpeg: "@ffmpeg-installer/ffmpeg",
  ffprobe: "@ffprobe-installer/ffprobe",
};

/** Keyed by the variables that decide the answer, so tests passing their own env are not served a stale one. */
const located = new Map<string, MediaTools>();

/**
 * Finds ffmpeg and ffprobe: `DOPPEL_FFMPEG` / `DOPPEL_FFPROBE` if set, else the system's binary on PATH,
 * else the static build shipped by `@ffmpeg-installer/ffmpeg` / `@ffprobe-installer/ffprobe`.
 */
export function locateMediaTools(env: NodeJS.ProcessEnv = process.env): MediaTools {
  const key = [env.DOPPEL_FFMPEG, env.DOPPEL_FFPROBE, searchPath(env)].join("\0");
  let tools = located.get(key);
  if (!tools) {
    tools = Object.freeze({ ffmpeg: locateTool("ffmpeg", env), ffprobe: locateTool("ffprobe", env) });
    located.set(key, tools);
  }
  return tools;
}

function locateTool(tool: ToolName, env: NodeJS.ProcessEnv): string {
  const variable = ENV_OVERRIDES[tool];
  const explicit = env[variable];
  if (explicit) {
    // An explicit setting that is wrong is an error, not a hint: silently running some other ffmpeg
    // would hide the misconfiguration until a codec or filter is missing.
    const resolved = path.resolve(explicit);
    if (!isExecutableFile(resolved)) {
      throw new Error(`${variable} is set to "${explicit}", which is not an executable file`);
    }
    return resolved;
  }
  const onPath = findOnPath(tool, env);
  if (onPath) return onPath;
  const shipped = fromNpmPackage(tool);
  if (shipped) return shipped;
  throw new Error(
    `${tool} was not found. Install FFmpeg 4.1 or later so that "${tool}" is on PATH ` +
      `(e.g. "apt-get install ffmpeg", "brew install ffmpeg", or https://ffmpeg.org/download.html), ` +
      `set ${variable} to the binary's path, or reinstall the npm package ${NPM_PACKAGES[tool]} ` +
      `(it has no binary for ${process.platform}-${process.arch} here).`,
  );
}

function searchPath(env: NodeJS.ProcessEnv): string {
  // Windows spells it "Path"; a copied env object keeps that spelling.
  return env.PATH ?? env.Path ?? "";
}

function findOnPath(tool: ToolName, env: NodeJS.ProcessEnv): string | undefined {
  const names = process.platform === "win32" ? [`${tool}.exe`, tool] : [tool];
  for (const dir of searchPath(env).split(path.delimiter)) {
    // An empty entry means the working directory to a shell; a service must not run whatever binary
    // happens to sit in its working directory.
    if (!dir || !path.isAbsolute(dir)) continue;
    for (const name of names) {
      const candidate = path.join(dir, name);
      if (isExecutableFile(candidate)) return candidate;
    }
  }
  return undefined;
}

function fromNpmPackage(tool: ToolName): string | undefined {
  try {
    const required = createRequire(import.meta.url)(NPM_PACKAGES[tool]) as { path?: unknown };
    return typeof required.path === "string" && isExecutableFile(required.path) ? required.path : undefined;
  } catch {
    // The installers throw (a string, not an Error) when their platform package is missing.
    return undefined;
  }
}

function isExecutableFile(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** ffmpeg or ffprobe ended unsuccessfully; `stderrTail` holds its last lines of diagnostics. */
export class MediaToolError extends Error {
  override readonly name = "MediaToolError";

  constructor(
    readonly tool: string,
    readonly exitCode: number | null,
    readonly exitSignal: NodeJS.Signals | null,
    readonly stderrTail: string,
  ) {
    const how =
      exitCode !== null ? `exited with code ${exitCode}` : `was killed by ${exitSignal ?? "a signal"}`;
    // The message carries the last few lines (where ffmpeg says what went wrong); the full tail stays
    // on the error for logs.
    const relevant = stderrTail.split("\n").slice(-MESSAGE_LINES).join("\n");
    super(`${tool} ${how}${relevant ? `: ${relevant}` : " without a diagnostic"}`);
  }
}

/** Lines of stderr kept in memory per run. */
const TAIL_LINES = 40;
/** Lines of that tail quoted in an error's message. */
const MESSAGE_LINES = 8;
/** A "line" longer than this is cut: a tool printing without newlines must not grow the tail without bound. */
const MAX_LINE = 2000;

/** The last lines of a stream of text, with bounded memory. */
class LineTail {
  private readonly lines: string[] = [];
  private partial = "";

  push(chunk: string): void {
    const parts = (this.partial + chunk).split(/\r\n|\r|\n/);
    this.partial = (parts.pop() ?? "").slice(-MAX_LINE);
    for (const line of parts) {
      if (line.trim() === "") continue;
      this.lines.push(line.slice(0, MAX_LINE));
      if (this.lines.length > TAIL_LINES) this.lines.shift();
    }
  }

  text(): string {
    const all = this.partial.trim() ? [...this.lines, this.partial] : this.lines;
    return all.slice(-TAIL_LINES).join("\n");
  }
}

/** Options of `runFfmpeg` and `runFfprobe`. */
export interface RunOptions {
  /** Aborting SIGKILLs the child; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called with the output position in seconds as ffmpeg reports progress (ffmpeg only). */
  onProgress?: (seconds: number) => void;
  /** Piped to the child's stdin (read it with `-i pipe:0`); destroyed if the tool exits before reading it all. */
  stdin?: Readable;
  /** Receives the child's stdout (write it with `pipe:1`) and is ended when the child's stdout ends. */
  stdout?: Writable;
}

/** Runs ffmpeg with `args` (after `-hide_banner -nostdin -loglevel error`); rejects with a `MediaToolError` on failure. */
export function runFfmpeg(args: readonly string[], options: RunOptions = {}): Promise<void> {
  const head = ["-hide_banner", "-nostats"];
  if (!options.stdin) head.push("-nostdin");
  if (!args.includes("-loglevel") && !args.includes("-v")) head.push("-loglevel", "error");
  // Progress goes to its own pipe (fd 3) so the key=value lines never crowd diagnostics out of the tail.
  if (options.onProgress) head.push("-progress", "pipe:3");
  return runTool("ffmpeg", [...head, ...args], options);
}

/** Runs ffprobe with `args` (after `-hide_banner -loglevel error`); rejects with a `MediaToolError` on failure. */
export function runFfprobe(
  args: readonly string[],
  options: Omit<RunOptions, "onProgress"> = {},
): Promise<void> {
  const head = ["-hide_banner"];
  if (!args.includes("-loglevel") && !args.includes("-v")) head.push("-loglevel", "error");
  return runTool("ffprobe", [...head, ...args], options);
}

/** Largest ffprobe JSON answer accepted: far above any real file's streams and format, far below harm. */
const MAX_JSON_BYTES = 32 * 1024 * 1024;

/** Runs ffprobe with `-print_format json` and `args`, and returns the parsed answer. */
export async function runFfprobeJson(args: readonly string[], signal?: AbortSignal): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > MAX_JSON_BYTES) {
        done(new Error(`ffprobe printed more than ${MAX_JSON_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
      done();
    },
  });
  await runFfprobe(["-print_format", "json", ...args], { signal, stdout });
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

/** The reason an aborted signal carries, or a standard AbortError when it carries none. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("This operation was aborted", "AbortError");
}

/** Errors that only mean the other end of a pipe went away first: the exit code tells the real story. */
function isPipeClosed(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    code === "EPIPE" ||
    code === "ECONNRESET" ||
    code === "ERR_STREAM_PREMATURE_CLOSE" ||
    code === "ERR_STREAM_DESTROYED" ||
    code === "ERR_STREAM_WRITE_AFTER_END"
  );
}

function runTool(tool: ToolName, args: string[], options: RunOptions): Promise<void> {
  const { signal, stdin, stdout, onProgress } = options;
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    let binary: string;
    try {
      binary = locateMediaTools()[tool];
    } catch (error) {
      reject(error);
      return;
    }
    const child = spawn(binary, args, {
      stdio: [stdin ? "pipe" : "ignore", stdout ? "pipe" : "ignore", "pipe", onProgress ? "pipe" : "ignore"],
      windowsHide: true,
    });

    const tail = new LineTail();
    // The first reason to fail that the exit code would not tell (abort, a stream's error, a throwing callback).
    let failure: { error: unknown } | undefined;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let stdoutDone = !stdout;
    let settled = false;

    const fail = (error: unknown): void => {
      failure ??= { error };
      child.kill("SIGKILL");
    };
    const onAbort = (): void => fail(abortReason(signal as AbortSignal));
    const settle = (): void => {
      if (settled || !exit || !stdoutDone) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      if (failure) reject(failure.error);
      else if (exit.code === 0) resolve();
      else reject(new MediaToolError(tool, exit.code, exit.signal, tail.text()));
    };

    signal?.addEventListener("abort", onAbort, { once: true });
    child.on("error", (error) => {
      if (child.pid === undefined) {
        // It never started (ENOENT, EACCES): there is no process to wait for.
        settled = true;
        signal?.removeEventListener("abort", onAbort);
        reject(new Error(`could not start ${tool} (${binary}): ${error.message}`, { cause: error }));
        return;
      }
      fail(error);
    });
    child.on("close", (code, exitSignal) => {
      exit = { code, signal: exitSignal };
      settle();
    });

    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => tail.push(chunk));
    child.stderr?.on("error", () => {});

    if (stdin && child.stdin) {
      pipeline(stdin, child.stdin, (error) => {
        // EPIPE here means ffmpeg stopped reading (it had enough, or it failed and says why on stderr);
        // anything else is the source failing, which must not pass for a short but valid input.
        if (error && !isPipeClosed(error)) fail(error);
      });
    }
    if (stdout && child.stdout) {
      pipeline(child.stdout, stdout, (error) => {
        if (error && !isPipeClosed(error)) fail(error);
        stdoutDone = true;
        settle();
      });
    }
    const progress = onProgress ? (child.stdio[3] as Readable | null) : null;
    if (progress && onProgress) {
      const lines = new ProgressLines((seconds) => {
        try {
          onProgress(seconds);
        } catch (error) {
          fail(error);
        }
      });
      progress.setEncoding("utf8");
      progress.on("data", (chunk: string) => lines.push(chunk));
      progress.on("error", () => {});
    }
  });
}

/** Parses ffmpeg's `-progress` key=value blocks and reports `out_time` in seconds when it advances. */
class ProgressLines {
  private partial = "";
  private last = -1;

  constructor(private readonly report: (seconds: number) => void) {}

  push(chunk: string): void {
    const lines = (this.partial + chunk).split("\n");
    this.partial = (lines.pop() ?? "").slice(-MAX_LINE);
    for (const line of lines) {
      // ffmpeg 4.1 prints out_time as HH:MM:SS.micro; it is "N/A" or negative before the first packet.
      const match = /^out_time=(-?)(\d+):(\d+):(\d+(?:\.\d+)?)\s*$/.exec(line);
      if (!match || match[1] === "-") continue;
      const seconds = Number(match[2]) * 3600 + Number(match[3]) * 60 + Number(match[4]);
      if (Number.isFinite(seconds) && seconds > this.last) {
        this.last = seconds;
        this.report(seconds);
      }
    }
  }
}
