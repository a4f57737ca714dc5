import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import OpenApiUtil from "@alicloud/openapi-util";

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
