/**
 * The resumable multipart upload of one file to per-part upload URLs: byte ranges per part, skipping
 * parts the server already has with the same MD5, streaming PUTs of the others, and the check that each
 * part's ETag is the MD5 of what was sent.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import http from "node:http";
import https from "node:https";
import { type PartRange, partRanges } from "../domain/parts.js";
import { type ApiError, apiErrorOf, networkError } from "./api-client.js";
import { runEach } from "./task-pool.js";

/**
 * Parts sent at once. Measured with `npm run bench:upload` (1 GiB in 10 parts over loopback into one
 * server process on a 2-core machine, best of 2 rounds): 1 at once 145 MB/s, 2 at once 180 MB/s,
 * 3 at once 176 MB/s. With one part in flight the server idles while a part's file is fsynced and the
 * next request starts; beyond 2 the server's hashing and disk are the limit. Over a real network 2
 * streams also ride out one slow connection better than one.
 */
export const DEFAULT_CONCURRENCY = 2;

/** Read size for parts: large reads keep syscalls and HTTP chunks few. */
const CHUNK_BYTES = 1024 * 1024;

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
  const agent = new http.Agent({ keepAlive: true });
  const secureAgent = new https.Agent({ keepAlive: true });
  const uploadPart = async (range: PartRange, signal: AbortSignal): Promise<PartResult> => {
    const url = options.urls[range.partNumber - 1] as string;
    const bytes = range.end - range.start;
    const etag = options.present?.get(range.partNumber);
    if (etag !== undefined) {
      const md5 = await md5OfRange(options.file, range, signal);
      if (md5 === etag.toLowerCase()) {
        options.onBytes?.(bytes);
        return { partNumber: range.partNumber, bytes, md5, status: "skipped" };
      }
    }
    const sent = await putPart(url, options.file, range, {
      agent: url.startsWith("https:") ? secureAgent : agent,
      signal,
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
    await runEach(ranges, options.concurrency ?? DEFAULT_CONCURRENCY, async (range, signal) => {
      const result = await uploadPart(range, signal);
      results.push(result);
      options.onPart?.(result);
    });
  } finally {
    agent.destroy();
    secureAgent.destroy();
  }
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
export function putPart(
  url: string,
  file: string,
  range: PartRange,
  options: {
    /** Keep-alive agent of the URL's protocol; Node's default agent for it when absent. */
    agent?: http.Agent | undefined;
    signal: AbortSignal;
    onBytes?: ((bytes: number) => void) | undefined;
  },
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
      ...(options.agent !== undefined && { agent: options.agent }),
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
