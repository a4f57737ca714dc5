/**
 * Download URLs of job files over real HTTP, made for files of many gigabytes: HEAD, a strong ETag
 * (the file's sha256) with If-None-Match, single byte ranges (`a-b`, `a-`, `-n`) with If-Range, 416 in
 * MetaStudio's envelope for a range past the end, a cut download resumed from where it stopped, and a
 * client that stops reading cut after the idle timeout. Doppel's own URLs (the local store) on both
 * databases; with an S3 store the URLs are S3's presigned ones, which must honour ranges too.
 */
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { Readable } from "node:stream";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BlobStore } from "../../src/blobs/blob-store.js";
import { MP4_HEAD } from "../support/clips.js";
import { ENGINES } from "../support/databases.js";
import { openRaw, sleep, within } from "../support/raw-http.js";
import { STORE_SETUPS, startS3Server, type TestS3Server } from "../support/s3-server.js";
import { startTestServer, type TestServer, tokenApi } from "../support/server.js";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const MiB = 1024 * 1024;

/** What a download answered: status, headers and the body's bytes. */
interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer;
}

async function download(url: string, headers: Record<string, string> = {}, method = "GET"): Promise<Answer> {
  const res = await fetch(url, { method, headers });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** A job whose training video is `video`, and its Show answer's download URL. */
async function jobWithVideo(s: TestServer, video: Buffer): Promise<{ jobId: string; url: string }> {
  const project = s.projects[0] as TestServer["projects"][number];
  const api = tokenApi(s, project);
  const created = (
    await api<{ job_id: string; training_video_upload_url: string[] }>("POST", "", {
      name: "Download",
      video_multipart_count: 1,
    })
  ).body;
  const put = await fetch(created.training_video_upload_url[0] as string, { method: "PUT", body: video });
  expect(put.status).toBe(200);
  const confirmed = await api("POST", `/${created.job_id}/command`, {
    command: "CONFIRM_MULTIPART_UPLOADED",
  });
  expect(confirmed.status).toBe(200);
  const shown = await api<{ training_video_download_url: string }>("GET", `/${created.job_id}`);
  return { jobId: created.job_id, url: shown.body.training_video_download_url };
}

/** What RFC 9110 says a single `Range` header asks of a file of `size` bytes (the test's own model). */
function expected(header: string, size: number): { start: number; end: number } | "whole" | "unsatisfiable" {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header);
  if (match === null || (match[1] === "" && match[2] === "") || size === 0) return "whole";
  const [, first, last] = match as unknown as [string, string, string];
  if (first === "") {
    const suffix = Number(last);
    return suffix === 0 ? "unsatisfiable" : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (last !== "" && Number(last) < start) return "unsatisfiable";
  if (start >= size) return "unsatisfiable";
  return { start, end: last === "" ? size - 1 : Math.min(Number(last), size - 1) };
}

describe.each(STORE_SETUPS)("downloads on %s with the %s blob store", (engine, store) => {
  let s: TestServer;
  let s3: TestS3Server | undefined;
  const video = Buffer.concat([MP4_HEAD, randomBytes(300_000)]);
  const size = video.length;
  let url: string;

  beforeAll(async () => {
    s3 = store === "s3" ? await startS3Server() : undefined;
    s = await startTestServer(engine, [0], { DOPPEL_CONSENT: "optional", ...s3?.doppelEnv() });
    ({ url } = await jobWithVideo(s, video));
  });
  afterAll(async () => {
    await s?.close();
    await s3?.close();
  });

  // Only with S3: there the job download URLs are S3's own presigned ones.
  it.runIf(store === "s3")("gives S3's own presigned URLs, which honour byte ranges", async () => {
    expect(url.startsWith(s.baseUrl)).toBe(false);
    const whole = await download(url);
    expect(whole.status).toBe(200);
    expect(sha256(whole.body)).toBe(sha256(video));
    // s3rver reads neither suffix ranges nor If-Range as S3 does; S3 itself does.
    for (const [header, start, end] of [
      ["bytes=0-0", 0, 0],
      ["bytes=100-199", 100, 199],
      [`bytes=${size - 10}-`, size - 10, size - 1],
      [`bytes=1000-${size + 5000}`, 1000, size - 1],
    ] as const) {
      const part = await download(url, { Range: header });
      expect(part.status, header).toBe(206);
      expect(part.headers.get("content-range"), header).toBe(`bytes ${start}-${end}/${size}`);
      expect(part.body.equals(video.subarray(start, end + 1)), header).toBe(true);
    }
    const resumed = await download(url, { Range: `bytes=${size - 5000}-` });
    expect(sha256(Buffer.concat([video.subarray(0, size - 5000), resumed.body]))).toBe(sha256(video));
  });

  // Only with the local store: with S3 the URLs are S3's (tested above), not Doppel's.
  describe.runIf(store === "local")("Doppel's own download URLs", () => {
    it("answers GET with the file and its validators, and HEAD with the same headers and no body", async () => {
      expect(url.startsWith(`${s.baseUrl}/downloads/`)).toBe(true);
      const got = await download(url);
      expect(got.status).toBe(200);
      expect(got.body.equals(video)).toBe(true);
      expect(got.headers.get("etag")).toBe(`"${sha256(video)}"`);
      expect(got.headers.get("accept-ranges")).toBe("bytes");
      expect(got.headers.get("content-length")).toBe(String(size));
      expect(got.headers.get("content-type")).toBe("video/mp4");
      expect(got.headers.get("x-content-sha256")).toBe(sha256(video));
      const modified = Date.parse(got.headers.get("last-modified") ?? "");
      expect(Math.abs(modified - Date.now())).toBeLessThan(10 * 60_000);

      // (fetch sends every HEAD with Connection: close, so the connection headers differ.)
      const head = await download(url, {}, "HEAD");
      expect(head.status).toBe(200);
      expect(head.body.length).toBe(0);
      const same = (h: Headers) =>
        Object.fromEntries(
          [...h].filter(([name]) => !["date", "x-request-id", "connection", "keep-alive"].includes(name)),
        );
      expect(same(head.headers)).toEqual(same(got.headers));

      const ranged = await download(url, { Range: "bytes=10-19" });
      const headRanged = await download(url, { Range: "bytes=10-19" }, "HEAD");
      expect(headRanged.status).toBe(206);
      expect(headRanged.body.length).toBe(0);
      expect(same(headRanged.headers)).toEqual(same(ranged.headers));
    });

    it("goes through the signature check for HEAD as for GET", async () => {
      const altered = url.replace(
        /signature=([0-9a-f])/,
        (_, c: string) => `signature=${c === "0" ? "1" : "0"}`,
      );
      for (const method of ["GET", "HEAD"]) {
        const res = await download(altered, {}, method);
        expect(res.status, method).toBe(403);
      }
      const refused = await download(altered);
      expect(JSON.parse(refused.body.toString())).toMatchObject({ error_code: "MSS.00010010" });
      const expired = url.replace(/expires=\d+/, "expires=1000");
      expect((await download(expired, {}, "HEAD")).status).toBe(403);
    });

    it("answers If-None-Match with the ETag (or *) by 304 without a body, and another by 200", async () => {
      const etag = `"${sha256(video)}"`;
      for (const header of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
        for (const method of ["GET", "HEAD"]) {
          const res = await download(url, { "If-None-Match": header }, method);
          expect(res.status, `${method} ${header}`).toBe(304);
          expect(res.body.length).toBe(0);
          expect(res.headers.get("etag")).toBe(etag);
        }
      }
      const changed = await download(url, { "If-None-Match": `"${sha256(Buffer.from("x"))}"` });
      expect(changed.status).toBe(200);
      expect(changed.body.equals(video)).toBe(true);
    });

    it("answers If-Modified-Since at or after Last-Modified by 304, unless If-None-Match says otherwise", async () => {
      const lastModified = (await download(url, {}, "HEAD")).headers.get("last-modified") ?? "";
      const later = new Date(Date.parse(lastModified) + 60_000).toUTCString();
      const earlier = new Date(Date.parse(lastModified) - 1000).toUTCString();
      expect((await download(url, { "If-Modified-Since": lastModified })).status).toBe(304);
      expect((await download(url, { "If-Modified-Since": later }, "HEAD")).status).toBe(304);
      const changed = await download(url, { "If-Modified-Since": earlier });
      expect(changed.status).toBe(200);
      expect(changed.body.equals(video)).toBe(true);
      expect((await download(url, { "If-Modified-Since": "not a date" })).status).toBe(200);
      // If-None-Match decides when both are sent (RFC 9110 §13.2.2).
      const other = { "If-None-Match": '"other"', "If-Modified-Since": later };
      expect((await download(url, other)).status).toBe(200);
    });

    it("answers a single range a-b, a- or -n with 206, Content-Range and exactly those bytes", async () => {
      for (const [header, start, end] of [
        ["bytes=0-0", 0, 0],
        ["bytes=0-99", 0, 99],
        ["bytes=1000-1999", 1000, 1999],
        [`bytes=${size - 1}-${size - 1}`, size - 1, size - 1],
        [`bytes=200000-${size + 1_000_000}`, 200_000, size - 1],
        ["bytes=123456-", 123_456, size - 1],
        ["bytes=-500", size - 500, size - 1],
        [`bytes=-${size + 100}`, 0, size - 1],
        ["Bytes=5-9", 5, 9],
        ["bytes=0-4,5-9", 0, 9],
        ["bytes=0-9,5-20", 0, 20],
      ] as const) {
        const res = await download(url, { Range: header });
        expect(res.status, header).toBe(206);
        expect(res.headers.get("content-range"), header).toBe(`bytes ${start}-${end}/${size}`);
        expect(res.headers.get("content-length"), header).toBe(String(end - start + 1));
        expect(res.headers.get("etag")).toBe(`"${sha256(video)}"`);
        expect(res.body.equals(video.subarray(start, end + 1)), header).toBe(true);
      }
    });

    it("resumes a cut download from the byte it stopped at, to the same sha256", async () => {
      const cutAt = 100_000;
      const first = await new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        let received = 0;
        const req = http.get(url, { agent: false }, (res) => {
          res.on("data", (chunk: Buffer) => {
            chunks.push(chunk);
            received += chunk.length;
            // The connection drops somewhere past cutAt bytes.
            if (received >= cutAt) {
              req.destroy();
              resolve(Buffer.concat(chunks));
            }
          });
          res.on("error", () => {});
        });
        req.on("error", (error: NodeJS.ErrnoException) => {
          if (error.code !== "ECONNRESET") reject(error);
        });
      });
      expect(first.length).toBeGreaterThanOrEqual(cutAt);
      expect(first.length).toBeLessThan(size);
      const rest = await download(url, { Range: `bytes=${first.length}-`, "If-Range": `"${sha256(video)}"` });
      expect(rest.status).toBe(206);
      expect(rest.headers.get("content-range")).toBe(`bytes ${first.length}-${size - 1}/${size}`);
      expect(sha256(Buffer.concat([first, rest.body]))).toBe(sha256(video));
    });

    it("serves the whole file for an If-Range that is not the current ETag, the range for one that is", async () => {
      for (const stale of [
        `"${sha256(Buffer.from("old"))}"`,
        `W/"${sha256(video)}"`,
        "Tue, 01 Jan 2030 00:00:00 GMT",
      ]) {
        const res = await download(url, { Range: "bytes=0-9", "If-Range": stale });
        expect(res.status, stale).toBe(200);
        expect(res.body.equals(video), stale).toBe(true);
        expect(res.headers.get("content-range")).toBeNull();
      }
      const current = await download(url, { Range: "bytes=0-9", "If-Range": `"${sha256(video)}"` });
      expect(current.status).toBe(206);
      expect(current.body.equals(video.subarray(0, 10))).toBe(true);
    });

    it("refuses a range past the end or backwards with 416, Content-Range bytes */size and the envelope", async () => {
      for (const header of [
        `bytes=${size}-`,
        `bytes=${size + 10}-${size + 20}`,
        "bytes=500-100",
        "bytes=-0",
      ]) {
        for (const method of ["GET", "HEAD"]) {
          const res = await download(url, { Range: header }, method);
          expect(res.status, `${method} ${header}`).toBe(416);
          expect(res.headers.get("content-range"), header).toBe(`bytes */${size}`);
          if (method === "GET") {
            expect(JSON.parse(res.body.toString()), header).toEqual({
              error_code: "MSS.10002007",
              error_msg: expect.stringContaining(String(size)),
            });
          }
        }
      }
    });

    it("ignores a malformed Range, another unit, and several separate ranges: 200 with the whole file", async () => {
      for (const header of [
        "bytes",
        "bytes=",
        "bytes=-",
        "bytes=a-b",
        "bytes=1-2-3",
        "items=0-9",
        "bytes=0-9,100-109",
        "0-9",
      ]) {
        const res = await download(url, { Range: header });
        expect(res.status, header).toBe(200);
        expect(res.body.equals(video), header).toBe(true);
      }
    });

    it("never answers a random Range header with a 5xx, and always with the right bytes, 200 or 416 (property)", async () => {
      const position = fc.oneof(
        fc.nat(size + 1000).map(String),
        fc.constantFrom(
          "0",
          String(size - 1),
          String(size),
          "",
          "99999999999999999999999",
          " 5",
          "1e3",
          "-1",
        ),
      );
      const spec = fc.oneof(
        fc.tuple(position, position).map(([a, b]) => `${a}-${b}`),
        fc.string({ maxLength: 12 }),
      );
      const header = fc.oneof(
        { arbitrary: spec.map((one) => `bytes=${one}`), weight: 4 },
        fc.array(spec, { minLength: 2, maxLength: 4 }).map((many) => `bytes=${many.join(",")}`),
        fc
          .tuple(fc.constantFrom("bytes", "BYTES", "items", "", "bytes "), spec)
          .map(([u, one]) => `${u}=${one}`),
        fc.string({ maxLength: 30 }),
      );
      await fc.assert(
        fc.asyncProperty(header, fc.boolean(), async (range, withIfRange) => {
          // fetch refuses header values with control characters; no client sends them.
          fc.pre(/^[\x20-\x7e]*$/.test(range));
          const res = await download(url, {
            Range: range,
            ...(withIfRange && { "If-Range": `"${sha256(video)}"` }),
          });
          expect([200, 206, 416], range).toContain(res.status);
          if (res.status === 200) expect(res.body.equals(video), range).toBe(true);
          if (res.status === 206) {
            const [, start, end] =
              /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get("content-range") ?? "") ?? [];
            expect(res.headers.get("content-range"), range).toMatch(new RegExp(`/${size}$`));
            expect(res.body.equals(video.subarray(Number(start), Number(end) + 1)), range).toBe(true);
          }
          if (res.status === 416) expect(res.headers.get("content-range"), range).toBe(`bytes */${size}`);
          // A single well-formed range gets exactly what RFC 9110 says.
          const model = expected(range, size);
          if (/^bytes=\d*-\d*$/.test(range)) {
            if (model === "whole") expect(res.status, range).toBe(200);
            else if (model === "unsatisfiable") expect(res.status, range).toBe(416);
            else {
              expect(res.status, range).toBe(206);
              expect(res.headers.get("content-range"), range).toBe(
                `bytes ${model.start}-${model.end}/${size}`,
              );
            }
          }
        }),
        { numRuns: 150 },
      );
    });
  });
});

describe.each(ENGINES)("a download whose client stops reading, on %s", (engine) => {
  let s: TestServer;
  let url: string;
  const video = Buffer.concat([MP4_HEAD, randomBytes(32 * MiB)]);
  /** Generous bound for "closed after the 1 s timeout" on a loaded machine. */
  const CLOSED_WITHIN_MS = 15_000;

  beforeAll(async () => {
    s = await startTestServer(engine, [0], { DOPPEL_CONSENT: "optional", DOPPEL_IDLE_TIMEOUT_SECONDS: "1" });
    ({ url } = await jobWithVideo(s, video));
  }, 60_000);
  afterAll(async () => s?.close());

  /** Streams the blob store opens from now on, to see that a cut download closes its file. */
  function watchReads(): { streams: Readable[]; restore(): void } {
    const blobs = s.t.runtime.blobs as { -readonly [K in keyof BlobStore]: BlobStore[K] };
    const { get } = blobs;
    const streams: Readable[] = [];
    blobs.get = async (...args: Parameters<BlobStore["get"]>) => {
      const stream = await get.apply(blobs, args);
      streams.push(stream);
      return stream;
    };
    return { streams, restore: () => (blobs.get = get) };
  }

  it("closes the connection once no byte could be written for the idle timeout, and closes the file", async () => {
    const reads = watchReads();
    try {
      const target = new URL(url);
      const conn = await openRaw(s.baseUrl);
      conn.socket.write(`GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await within(
        5000,
        "the answer starting",
        (async () => {
          while (!conn.received().includes("\r\n\r\n")) await sleep(10);
        })(),
      );
      // Stop reading: the socket buffers fill and the server's writes stall.
      conn.socket.pause();
      const stalledAt = Date.now();
      expect(reads.streams.length).toBe(1);
      // The server gives up on its own (the client is still not reading): the file is closed...
      await within(
        CLOSED_WITHIN_MS,
        "closing the stalled download's file",
        (async () => {
          while (!reads.streams[0]?.destroyed) await sleep(20);
        })(),
      );
      expect(Date.now() - stalledAt).toBeGreaterThanOrEqual(900);
      // ...and the connection: reading again finds it closed after part of the file.
      conn.socket.resume();
      await within(5000, "the connection closed", conn.closed);
      expect(conn.received().startsWith("HTTP/1.1 200")).toBe(true);
      expect(conn.received().length).toBeLessThan(video.length);
      // The server goes on serving others.
      expect((await fetch(`${s.baseUrl}/healthz`)).status).toBe(200);
    } finally {
      reads.restore();
    }
  }, 30_000);

  it("does not cut a client that reads in bursts, pausing for less than the idle timeout", async () => {
    const started = Date.now();
    let pauses = 0;
    const received = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      http
        .get(url, { agent: false }, (res) => {
          // Take 4 MiB, then stop reading for 700 ms (the idle timeout is 1 s), over and over.
          let burst = 0;
          res.on("data", (chunk: Buffer) => {
            chunks.push(chunk);
            burst += chunk.length;
            if (burst >= 4 * MiB && !res.isPaused()) {
              res.pause();
              pauses++;
              setTimeout(() => {
                burst = 0;
                res.resume();
              }, 700);
            }
          });
          res.on("end", () => resolve(Buffer.concat(chunks)));
          res.on("error", reject);
        })
        .on("error", reject);
    });
    expect(sha256(received)).toBe(sha256(video));
    // The reader really was slower than the idle timeout in all.
    expect(pauses).toBeGreaterThanOrEqual(4);
    expect(Date.now() - started).toBeGreaterThan(2000);
  }, 60_000);

  it("does not blame the client for time the server itself was frozen (a GC pause, a loaded machine)", async () => {
    // Client and server share this process: block it, three times, for longer than the idle timeout
    // while the answer is being read. Timers of one period run back to back, so with the sweep's period
    // (a quarter of the timeout) a block can fall right after a sweep with no I/O in between: the next
    // sweep then sees no progress for the whole block although the client never stopped reading.
    let freezes = 0;
    let reading = false;
    const freezer = setInterval(() => {
      if (!reading || freezes >= 3) return;
      freezes++;
      const until = Date.now() + 1300;
      while (Date.now() < until);
    }, 250);
    try {
      const received = await new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        http
          .get(url, { agent: false }, (res) => {
            res.on("data", (chunk: Buffer) => {
              chunks.push(chunk);
              // Read slowly enough that the answer is still going when the freezes are over.
              if (!reading) reading = true;
              if (freezes < 3 && !res.isPaused()) {
                res.pause();
                setTimeout(() => res.resume(), 5);
              }
            });
            res.on("end", () => resolve(Buffer.concat(chunks)));
            res.on("error", reject);
          })
          .on("error", reject);
      });
      expect(freezes).toBe(3);
      expect(sha256(received)).toBe(sha256(video));
    } finally {
      clearInterval(freezer);
    }
  }, 60_000);
});
