/*
 * One file over 400 lines on purpose: the documented settings (SETTINGS, printed by --help and copied
 * to the README) sit beside the code that reads each of them, so a new setting is added in one place.
 */
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import ipaddr from "ipaddr.js";
import { REVIEW_MODES, STAGES, type Stage } from "../domain/pipeline.js";

/** Everything Doppel can be configured with, validated and frozen. */
export interface Config {
  readonly dataDir: string;
  /** A postgres URL, or undefined for the embedded SQLite file. */
  readonly databaseUrl: string | undefined;
  readonly sqlitePath: string;
  readonly host: string;
  readonly port: number;
  /** HTTP server processes sharing the port (node:cluster); 1 serves from the main process alone. */
  readonly processes: number;
  /** Base64 server key from config; when absent it is read from (or generated into) the data dir. */
  readonly serverKey: string | undefined;
  readonly logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  readonly maxClockSkewMs: number;
  readonly tokenTtlMs: number;
  /** Largest single upload (one part or one file), in bytes. */
  readonly maxUploadBytes: number;
  /** Longest a request body may go without a byte from the client before its connection is closed. */
  readonly idleTimeoutMs: number;
  /** Longest a client may take to send a whole request head (request line and headers). */
  readonly headersTimeoutMs: number;
  /** Connections one HTTP server process holds at once; more are closed as they arrive. */
  readonly maxConnections: number;
  /** Where job files live: `<dataDir>/blobs`, or an S3-compatible bucket. */
  readonly blobStore:
    | { readonly kind: "local"; readonly root: string }
    | {
        readonly kind: "s3";
        readonly bucket: string;
        readonly endpoint: string | undefined;
        readonly region: string;
        readonly forcePathStyle: boolean;
        readonly prefix: string | undefined;
        readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string } | undefined;
      };
  /** How submitted jobs move: see src/domain/pipeline.ts and src/pipeline/. */
  readonly pipeline: PipelineConfig;
  /** How events reach webhooks and ICE callbacks (src/pipeline/event-sender.ts). */
  readonly webhooks: WebhookConfig;
}

export interface WebhookConfig {
  /** CIDR ranges a webhook may point into although they are private, loopback or link-local. */
  readonly allowedNetworks: readonly string[];
  /** Longest a receiver may take to answer one delivery. */
  readonly timeoutMs: number;
  /** How long a delivery is retried after its event, before it is marked failed. */
  readonly retryWindowMs: number;
  /** First retry delay; each next one doubles, up to `retryCapMs`, with jitter. */
  readonly retryBaseMs: number;
  readonly retryCapMs: number;
  /** An endpoint whose every attempt failed for this long is disabled until re-enabled. */
  readonly disableAfterMs: number;
  /** Deliveries a worker process sends at once. */
  readonly concurrency: number;
  /** Interval of the live stream's comment lines, which keep proxies from closing an idle stream. */
  readonly heartbeatMs: number;
}

export interface PipelineConfig {
  /** `auto` approves a verified job at once; `manual` waits for an admin (the review API). */
  readonly review: "auto" | "manual";
  /**
   * `required`: a job is submitted only with a consent file (grant file); `optional`: without one too.
   * A consent letter (not a video) always sends the job to an operator, whatever `review` says.
   */
  readonly consent: "required" | "optional";
  /** A built-in verification policy (`default`, `dev`) or a JSON file of one. */
  readonly verifyPolicy: string;
  /** A finished job waits in WAIT_USER_CONFIRM for the user's CONFIRM_ACCEPT / CONFIRM_REJECT. */
  readonly requireConfirm: boolean;
  /** Whether `doppel serve` runs the built-in workers in its main process. */
  readonly workers: boolean;
  /** The stages a worker takes tasks of. */
  readonly stages: readonly Stage[];
  /** Tasks a worker process runs at once. */
  readonly concurrency: number;
  /** A local program that trains (`{input}` and `{output}` are replaced by directories). */
  readonly trainerCommand: string | undefined;
  /** How long a claimed task stays a worker's without a heartbeat; a dead worker's task waits this long. */
  readonly leaseMs: number;
}

/** Command-line flags as commander hands them over (all optional strings). */
export interface ConfigFlags {
  dataDir?: string | undefined;
  databaseUrl?: string | undefined;
  host?: string | undefined;
  port?: string | undefined;
  processes?: string | undefined;
  blobStore?: string | undefined;
  serverKey?: string | undefined;
  logLevel?: string | undefined;
  review?: string | undefined;
  consent?: string | undefined;
  verifyPolicy?: string | undefined;
  requireConfirm?: boolean | undefined;
  /** commander's `--no-workers` gives `workers: false`. */
  workers?: boolean | undefined;
  stages?: string | undefined;
  concurrency?: string | undefined;
  trainerCommand?: string | undefined;
}

/** The documented settings: flag, environment variable, default. Printed by `doppel --help` and the README. */
export const SETTINGS = [
  ["--data-dir", "DOPPEL_DATA_DIR", "./data", "directory for the SQLite file, the server key and blobs"],
  [
    "--database-url",
    "DATABASE_URL",
    "(SQLite in the data dir)",
    "postgres://user@host:5432/db to use PostgreSQL",
  ],
  ["--host", "DOPPEL_HOST", "127.0.0.1", "address to listen on"],
  ["--port", "DOPPEL_PORT", "8080", "port to listen on (0 picks a free one)"],
  [
    "--processes",
    "DOPPEL_PROCESSES",
    "1",
    "HTTP server processes sharing the port; `auto` = one per CPU core",
  ],
  [
    "--server-key",
    "DOPPEL_SERVER_KEY",
    "(generated into <data-dir>/server.key)",
    "base64 32-byte key that encrypts stored secrets",
  ],
  ["--log-level", "DOPPEL_LOG_LEVEL", "info", "fatal|error|warn|info|debug|trace|silent"],
  ["--blob-store", "DOPPEL_BLOB_STORE", "local", "where job files live: `local` (<data-dir>/blobs) or `s3`"],
  ["", "DOPPEL_S3_BUCKET", "(required for s3)", "bucket of the S3 blob store"],
  ["", "DOPPEL_S3_ENDPOINT", "(AWS)", "endpoint of an S3-compatible service, e.g. http://127.0.0.1:9000"],
  ["", "DOPPEL_S3_REGION", "us-east-1", "region of the bucket"],
  [
    "",
    "DOPPEL_S3_FORCE_PATH_STYLE",
    "true with an endpoint",
    "path-style addressing (http://host/bucket/key)",
  ],
  ["", "DOPPEL_S3_PREFIX", "(none)", "key prefix inside the bucket"],
  ["", "DOPPEL_S3_ACCESS_KEY_ID / DOPPEL_S3_SECRET_ACCESS_KEY", "(SDK default chain)", "S3 credentials"],
  [
    "",
    "DOPPEL_MAX_CLOCK_SKEW_SECONDS",
    "900",
    "largest accepted distance of a signed request's time from the server clock",
  ],
  ["", "DOPPEL_TOKEN_TTL_HOURS", "24", "lifetime of tokens made by `doppel token create`"],
  ["", "DOPPEL_MAX_UPLOAD_MB", "5120", "largest single upload (one part of a video, or one file), in MiB"],
  [
    "",
    "DOPPEL_IDLE_TIMEOUT_SECONDS",
    "60",
    "close a connection whose request body sends no byte, or whose client takes no byte of the answer, for this long (uploads and downloads at any steady speed go on)",
  ],
  [
    "",
    "DOPPEL_HEADERS_TIMEOUT_SECONDS",
    "30",
    "close a connection that has not sent a whole request head (line and headers) within this long",
  ],
  [
    "",
    "DOPPEL_MAX_CONNECTIONS",
    "1024",
    "connections one HTTP server process holds at once; more are closed as they arrive",
  ],
  [
    "--review",
    "DOPPEL_REVIEW",
    "auto",
    "review of verified jobs: `auto` approves, `manual` waits for an admin",
  ],
  [
    "--consent",
    "DOPPEL_CONSENT",
    "required",
    "`required`: a job needs the person's consent (a video of them, or a signed letter) to be submitted; `optional`: it does not",
  ],
  [
    "--verify-policy",
    "DOPPEL_VERIFY_POLICY",
    "default",
    "video rules: `default` (1080p/4K, 3–10 min), `dev` (short clips) or a JSON file",
  ],
  [
    "--require-confirm",
    "DOPPEL_REQUIRE_CONFIRM",
    "false",
    "finished jobs wait in WAIT_USER_CONFIRM for CONFIRM_ACCEPT",
  ],
  [
    "--no-workers",
    "DOPPEL_WORKERS=false",
    "(workers on)",
    "serve: do not run the pipeline workers in-process",
  ],
  [
    "--stages",
    "DOPPEL_WORKER_STAGES",
    "(all)",
    "worker: comma-separated stages to take (verify,review,preprocess,train,package)",
  ],
  ["--concurrency", "DOPPEL_WORKER_CONCURRENCY", "1", "worker: tasks run at once"],
  [
    "",
    "DOPPEL_TASK_LEASE_SECONDS",
    "30",
    "how long a worker holds a task without a heartbeat; a crashed worker's task is taken over after it",
  ],
  [
    "--trainer-command",
    "DOPPEL_TRAINER_COMMAND",
    "(built-in reference trainer)",
    "worker: a program that trains, with {input} and {output} directories",
  ],
  [
    "",
    "DOPPEL_WEBHOOK_ALLOW_NETWORKS",
    "(none)",
    "CIDR ranges webhooks may point into although private, loopback or link-local, e.g. 127.0.0.0/8,10.0.0.0/8",
  ],
  ["", "DOPPEL_WEBHOOK_TIMEOUT_SECONDS", "10", "longest a webhook receiver may take to answer"],
  ["", "DOPPEL_WEBHOOK_RETRY_HOURS", "26", "how long a failing delivery is retried (backoff with jitter)"],
  [
    "",
    "DOPPEL_WEBHOOK_RETRY_BASE_MS",
    "5000",
    "first retry delay; doubles per attempt up to DOPPEL_WEBHOOK_RETRY_CAP_SECONDS",
  ],
  ["", "DOPPEL_WEBHOOK_RETRY_CAP_SECONDS", "3600", "longest delay between two attempts"],
  [
    "",
    "DOPPEL_WEBHOOK_DISABLE_AFTER_HOURS",
    "72",
    "a webhook whose every attempt failed this long is disabled",
  ],
  ["", "DOPPEL_WEBHOOK_CONCURRENCY", "4", "worker: deliveries sent at once"],
  ["", "DOPPEL_EVENTS_HEARTBEAT_SECONDS", "15", "interval of the live event stream's keep-alive comments"],
] as const;

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** Merges flags over environment over defaults; throws a readable error for a bad value. */
export function loadConfig(flags: ConfigFlags = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = resolve(flags.dataDir ?? env.DOPPEL_DATA_DIR ?? "./data");
  const databaseUrl = nonEmpty(flags.databaseUrl ?? env.DATABASE_URL ?? env.DOPPEL_DATABASE_URL);
  if (databaseUrl !== undefined && !/^(postgres(ql)?:\/\/|sqlite:)/i.test(databaseUrl)) {
    throw new Error(
      `database URL must start with postgres://, postgresql:// or sqlite: (got ${databaseUrl.split(":")[0]}:)`,
    );
  }
  const sqlitePath =
    databaseUrl?.toLowerCase().startsWith("sqlite:") === true
      ? resolve(databaseUrl.slice("sqlite:".length).replace(/^\/\//, ""))
      : resolve(dataDir, "doppel.sqlite");
  const logLevel = (flags.logLevel ?? env.DOPPEL_LOG_LEVEL ?? "info") as Config["logLevel"];
  if (!LOG_LEVELS.includes(logLevel)) throw new Error(`log level must be one of ${LOG_LEVELS.join(", ")}`);
  return Object.freeze({
    dataDir,
    databaseUrl: databaseUrl?.toLowerCase().startsWith("sqlite:") ? undefined : databaseUrl,
    sqlitePath,
    host: flags.host ?? env.DOPPEL_HOST ?? "127.0.0.1",
    port: integer("port", flags.port ?? env.DOPPEL_PORT ?? "8080", 0, 65535),
    processes: processCount(flags.processes ?? env.DOPPEL_PROCESSES ?? "auto"),
    serverKey: nonEmpty(flags.serverKey ?? env.DOPPEL_SERVER_KEY),
    logLevel,
    maxClockSkewMs:
      integer("DOPPEL_MAX_CLOCK_SKEW_SECONDS", env.DOPPEL_MAX_CLOCK_SKEW_SECONDS ?? "900", 1, 86400) * 1000,
    tokenTtlMs:
      integer("DOPPEL_TOKEN_TTL_HOURS", env.DOPPEL_TOKEN_TTL_HOURS ?? "24", 1, 24 * 365) * 3600 * 1000,
    maxUploadBytes:
      integer("DOPPEL_MAX_UPLOAD_MB", env.DOPPEL_MAX_UPLOAD_MB ?? "5120", 1, 1024 * 1024) * 1024 * 1024,
    idleTimeoutMs:
      integer("DOPPEL_IDLE_TIMEOUT_SECONDS", env.DOPPEL_IDLE_TIMEOUT_SECONDS ?? "60", 1, 3600) * 1000,
    headersTimeoutMs:
      integer("DOPPEL_HEADERS_TIMEOUT_SECONDS", env.DOPPEL_HEADERS_TIMEOUT_SECONDS ?? "30", 1, 3600) * 1000,
    maxConnections: integer("DOPPEL_MAX_CONNECTIONS", env.DOPPEL_MAX_CONNECTIONS ?? "1024", 1, 1_000_000),
    blobStore: blobStoreConfig(flags.blobStore ?? env.DOPPEL_BLOB_STORE ?? "local", dataDir, env),
    pipeline: pipelineConfig(flags, env),
    webhooks: webhookConfig(env),
  });
}

function webhookConfig(env: NodeJS.ProcessEnv): WebhookConfig {
  const networks = nonEmpty(env.DOPPEL_WEBHOOK_ALLOW_NETWORKS);
  const allowedNetworks =
    networks === undefined
      ? []
      : networks
          .split(",")
          .map((n) => n.trim())
          .filter(Boolean);
  for (const network of allowedNetworks) {
    if (!isCidr(network))
      throw new Error(`DOPPEL_WEBHOOK_ALLOW_NETWORKS: ${JSON.stringify(network)} is not a CIDR range`);
  }
  const hours = 3600 * 1000;
  return {
    allowedNetworks,
    timeoutMs:
      integer("DOPPEL_WEBHOOK_TIMEOUT_SECONDS", env.DOPPEL_WEBHOOK_TIMEOUT_SECONDS ?? "10", 1, 300) * 1000,
    retryWindowMs:
      integer("DOPPEL_WEBHOOK_RETRY_HOURS", env.DOPPEL_WEBHOOK_RETRY_HOURS ?? "26", 1, 24 * 30) * hours,
    retryBaseMs: integer(
      "DOPPEL_WEBHOOK_RETRY_BASE_MS",
      env.DOPPEL_WEBHOOK_RETRY_BASE_MS ?? "5000",
      10,
      3_600_000,
    ),
    retryCapMs:
      integer("DOPPEL_WEBHOOK_RETRY_CAP_SECONDS", env.DOPPEL_WEBHOOK_RETRY_CAP_SECONDS ?? "3600", 1, 86400) *
      1000,
    disableAfterMs:
      integer(
        "DOPPEL_WEBHOOK_DISABLE_AFTER_HOURS",
        env.DOPPEL_WEBHOOK_DISABLE_AFTER_HOURS ?? "72",
        1,
        24 * 365,
      ) * hours,
    concurrency: integer("DOPPEL_WEBHOOK_CONCURRENCY", env.DOPPEL_WEBHOOK_CONCURRENCY ?? "4", 1, 256),
    heartbeatMs:
      integer("DOPPEL_EVENTS_HEARTBEAT_SECONDS", env.DOPPEL_EVENTS_HEARTBEAT_SECONDS ?? "15", 1, 3600) * 1000,
  };
}

function pipelineConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv): PipelineConfig {
  const review = flags.review ?? env.DOPPEL_REVIEW ?? "auto";
  if (!(REVIEW_MODES as readonly string[]).includes(review)) {
    throw new Error(`review must be auto or manual (got ${JSON.stringify(review)})`);
  }
  const consent = flags.consent ?? env.DOPPEL_CONSENT ?? "required";
  if (consent !== "required" && consent !== "optional") {
    throw new Error(`consent must be required or optional (got ${JSON.stringify(consent)})`);
  }
  const stagesRaw = nonEmpty(flags.stages ?? env.DOPPEL_WORKER_STAGES);
  const stages = stagesRaw === undefined ? [...STAGES] : stagesRaw.split(",").map((s) => s.trim());
  for (const stage of stages) {
    if (!(STAGES as readonly string[]).includes(stage)) {
      throw new Error(`stages must be among ${STAGES.join(", ")} (got ${JSON.stringify(stage)})`);
    }
  }
  return {
    review: review as PipelineConfig["review"],
    consent,
    verifyPolicy: nonEmpty(flags.verifyPolicy ?? env.DOPPEL_VERIFY_POLICY) ?? "default",
    requireConfirm: flags.requireConfirm ?? bool("DOPPEL_REQUIRE_CONFIRM", env.DOPPEL_REQUIRE_CONFIRM, false),
    workers: flags.workers === false ? false : bool("DOPPEL_WORKERS", env.DOPPEL_WORKERS, true),
    stages: stages as Stage[],
    concurrency: integer("concurrency", flags.concurrency ?? env.DOPPEL_WORKER_CONCURRENCY ?? "1", 1, 64),
    trainerCommand: nonEmpty(flags.trainerCommand ?? env.DOPPEL_TRAINER_COMMAND),
    leaseMs: integer("DOPPEL_TASK_LEASE_SECONDS", env.DOPPEL_TASK_LEASE_SECONDS ?? "30", 1, 3600) * 1000,
  };
}

function bool(name: string, raw: string | undefined, fallback: boolean): boolean {
  const value = nonEmpty(raw);
  if (value === undefined) return fallback;
  if (value !== "true" && value !== "false")
    throw new Error(`${name} must be true or false (got ${JSON.stringify(value)})`);
  return value === "true";
}

/**
 * `auto` is one HTTP process per core, because a single Node process spends one core on HTTP and
 * (synchronous) SQLite together. Capped at 4: past that the database, not HTTP, is the limit, and
 * each process holds its own PostgreSQL pool.
 */
function processCount(raw: string): number {
  return raw === "auto" ? Math.min(availableParallelism(), 4) : integer("processes", raw, 1, 256);
}

function blobStoreConfig(kind: string, dataDir: string, env: NodeJS.ProcessEnv): Config["blobStore"] {
  if (kind === "local") return { kind, root: resolve(dataDir, "blobs") };
  if (kind !== "s3") throw new Error(`blob store must be local or s3 (got ${JSON.stringify(kind)})`);
  const bucket = nonEmpty(env.DOPPEL_S3_BUCKET);
  if (bucket === undefined) throw new Error("DOPPEL_S3_BUCKET is required with --blob-store s3");
  const endpoint = nonEmpty(env.DOPPEL_S3_ENDPOINT);
  const accessKeyId = nonEmpty(env.DOPPEL_S3_ACCESS_KEY_ID);
  const secretAccessKey = nonEmpty(env.DOPPEL_S3_SECRET_ACCESS_KEY);
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new Error("set both DOPPEL_S3_ACCESS_KEY_ID and DOPPEL_S3_SECRET_ACCESS_KEY, or neither");
  }
  const pathStyle = nonEmpty(env.DOPPEL_S3_FORCE_PATH_STYLE);
  if (pathStyle !== undefined && pathStyle !== "true" && pathStyle !== "false") {
    throw new Error("DOPPEL_S3_FORCE_PATH_STYLE must be true or false");
  }
  return {
    kind,
    bucket,
    endpoint,
    region: nonEmpty(env.DOPPEL_S3_REGION) ?? "us-east-1",
    forcePathStyle: pathStyle === undefined ? endpoint !== undefined : pathStyle === "true",
    prefix: nonEmpty(env.DOPPEL_S3_PREFIX),
    credentials:
      accessKeyId !== undefined && secretAccessKey !== undefined
        ? { accessKeyId, secretAccessKey }
        : undefined,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

function integer(name: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new Error(`${name} must be a whole number from ${min} to ${max} (got ${JSON.stringify(raw)})`);
  }
  return value;
}

function isCidr(value: string): boolean {
  try {
    ipaddr.parseCIDR(value);
    return true;
  } catch {
    return false;
  }
}
