import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomFill, randomUUID } from "node:crypto";
import { once } from "node:events";
import { createWriteStream, existsSync, mkdirSync, statSync } from "node:fs";
import { readFile, rename } from "node:fs/promises";
import { dirname } from "node:path";
import OpenApiUtil from "@alicloud/openapi-util";

export const mb = (bytes: number) => bytes / 1e6;
export const rate = (bytes: number, ms: number) => `${(mb(bytes) / (ms / 1000)).toFixed(0).padStart(5)} MB/s`;
export const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/**
 * A file of `size` random bytes at `path` (starting with `head`, if given), written once, 4 MiB at a
 * time, and reused by later runs while its size matches.
 */
export async function randomFile(path: string, size: number, head?: Buffer): Promise<string> {
  if (existsSync(path) && statSync(path).size === size) {
    console.log(`  reusing ${path}`);
    return path;
  }
  mkdirSync(dirname(path), { recursive: true });
  const started = performance.now();
  const partial = `${path}.partial`;
  const out = createWriteStream(partial);
  const chunk = Buffer.alloc(4 * 1024 * 1024);
  for (let written = 0; written < size; ) {
    const n = Math.min(chunk.length, size - written);
    await new Promise<void>((done, fail) => randomFill(chunk, 0, n, (e) => (e ? fail(e) : done())));
    if (written === 0) head?.copy(chunk);
    // A copy: the stream may still hold the previous buffer when randomFill refills it.
    if (!out.write(Buffer.from(chunk.subarray(0, n)))) await once(out, "drain");
    written += n;
  }
  out.end();
  await once(out, "finish");
  await rename(partial, path);
  console.log(`  generated ${path} in ${seconds(performance.now() - started)}`);
  return path;
}

/** A process's resident set now (VmRSS) or at its peak so far (VmHWM), in MB. */
export async function rssMb(pid: number, which: "VmRSS" | "VmHWM" = "VmHWM"): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = Number(new RegExp(`^${which}:\\s+(\\d+) kB$`, "m").exec(status)?.[1]);
  return (kb * 1024) / 1e6;
}

/** Reads a process's VmRSS every `everyMs` until `stop()`, which resolves with the highest seen (MB). */
export function sampleRss(pid: number, everyMs = 50): { stop(): Promise<number> } {
  let highest = 0;
  let reading: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    reading = rssMb(pid, "VmRSS").then(
      (now) => {
        highest = Math.max(highest, now);
      },
      () => {}, // the process has exited
    );
  }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await reading;
      return highest;
    },
  };
}

/** Latency summary of a list of samples in milliseconds. */
export function summarise(samplesMs: number[], seconds: number) {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { rps: samplesMs.length / seconds, p50: at(0.5), p99: at(0.99) };
}

/** Seconds of load before each measurement, discarded: JIT, caches and pools warm up in it. */
export const WARM_UP_SECONDS = 2;

/** Runs `call` from `concurrency` loops for `seconds`, timing each call: the in-process floor. */
export async function measureInProcess(call: () => Promise<unknown>, seconds: number, concurrency: number) {
  const warmUntil = performance.now() + WARM_UP_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < warmUntil) await call();
    }),
  );
  const samples: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const loop = async () => {
    while (performance.now() < deadline) {
      const start = performance.now();
      await call();
      samples.push(performance.now() - start);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, loop));
  return summarise(samples, (performance.now() - started) / 1000);
}

/** Times `n` sequential calls (after a warm-up) and returns the median in milliseconds. */
export async function medianOf(call: () => Promise<unknown>, n: number): Promise<number> {
  for (let i = 0; i < Math.min(10, n); i++) await call();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await call();
    samples.push(performance.now() - start);
  }
  return summarise(samples, 1).p50;
}

/** Starts `doppel serve` from dist/ in a child process and resolves with its base URL. */
export async function startServer(env: NodeJS.ProcessEnv): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ["dist/cli/main.js", "serve", "--port", "0", "--log-level", "warn"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match?.[1]) resolve(match[1]);
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
  return { url, child };
}

/**
 * Signs an ICE RPC request with ACS3-HMAC-SHA256 using the Alibaba SDK's own signer, so the load
 * generator sends what `@alicloud/openapi-client` sends (a fresh nonce every time).
 */
export function signIceRequest(
  host: string,
  query: Record<string, string>,
  ak: string,
  sk: string,
): Record<string, string> {
  const headers: Record<string, string> = {
    host,
    "x-acs-action": "ListAvatarTrainingJobs",
    "x-acs-version": "2020-11-09",
    "x-acs-date": new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
    "x-acs-signature-nonce": randomUUID(),
    "x-acs-content-sha256": createHash("sha256").update("").digest("hex"),
  };
  const authorization = OpenApiUtil.default.getAuthorization(
    { method: "POST", pathname: "/", query, headers } as never,
    "ACS3-HMAC-SHA256",
    headers["x-acs-content-sha256"] as string,
    ak,
    sk,
  );
  return { ...headers, authorization };
}

export function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}
