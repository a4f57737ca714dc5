/**
 * Slow and silent clients on a real port, with short configured timeouts: a body or a request head
 * that stops arriving is cut after the idle timeout; an upload that keeps dribbling is not, however
 * long it takes; a server that is busy (assembling parts, or a slow blob store) is never mistaken for
 * a silent client; and connections beyond the cap are closed while the first ones stay served.
 */
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BlobStore } from "../../src/blobs/blob-store.js";
import { MP4_HEAD } from "../support/clips.js";
import { ENGINES } from "../support/databases.js";
import { openRaw, type RawConnection, sleep, within } from "../support/raw-http.js";
import { startTestServer, type TestServer, tokenApi } from "../support/server.js";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Body = any;

const TIMEOUTS = { DOPPEL_IDLE_TIMEOUT_SECONDS: "1", DOPPEL_HEADERS_TIMEOUT_SECONDS: "1" };
/** Generous bound for "closed after the 1 s timeout" on a loaded machine; tests assert behaviour, not speed. */
const CLOSED_WITHIN_MS = 15_000;
const md5 = (b: Buffer) => createHash("md5").update(b).digest("hex");

describe.each(ENGINES)("slow clients on %s", (engine) => {
  let s: TestServer;
  let a: TestServer["projects"][number];

  beforeAll(async () => {
    s = await startTestServer(engine, [0], TIMEOUTS);
    [a] = s.projects as [typeof a];
  });
  afterAll(async () => s?.close());

  const api = (method: string, path: string, body?: unknown) => tokenApi(s, a)<Body>(method, path, body);
  const createJob = async (parts: number) =>
    (await api("POST", "", { name: "Slow", video_multipart_count: parts })).body as {
      job_id: string;
      training_video_upload_url: string[];
    };

  it("closes a connection whose upload body stops arriving", async () => {
    const job = await createJob(1);
    const url = new URL(job.training_video_upload_url[0] as string);
    const conn = await openRaw(s.baseUrl);
    conn.socket.write(
      `PUT ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: 1048576\r\n\r\n`,
    );
    conn.socket.write(Buffer.concat([MP4_HEAD, randomBytes(10_000)]));
    const closed = await within(CLOSED_WITHIN_MS, "closing the stalled upload", conn.closed);
    expect(closed.afterMs).toBeGreaterThanOrEqual(900);
  });

  it("closes an unauthenticated connection whose JSON body stops arriving", async () => {
    const conn = await openRaw(s.baseUrl);
    conn.socket.write(
      `POST /v1/${a.id}/digital-human-training-manage/user/jobs HTTP/1.1\r\nHost: x\r\n` +
        "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
    );
    await within(CLOSED_WITHIN_MS, "closing the stalled JSON body", conn.closed);
  });

  it("closes a connection whose request head stops arriving, or that sends nothing", async () => {
    const partial = await openRaw(s.baseUrl);
    partial.socket.write(`GET /v1/${a.id}/digital-human-training-manage/user/jobs HTTP/1.1\r\nHost: x\r\n`);
    const silent = await openRaw(s.baseUrl);
    await within(CLOSED_WITHIN_MS, "closing the stalled head", partial.closed);
    await within(CLOSED_WITHIN_MS, "closing the silent connection", silent.closed);
  });

  it("takes an upload that dribbles in for several idle timeouts, a little at a time", async () => {
    const job = await createJob(2);
    const chunks = Array.from({ length: 16 }, () => randomBytes(4096));
    const body = Buffer.concat(chunks);
    const res = await new Promise<{ status: number; etag: string | undefined }>((resolve, reject) => {
      const req = http.request(
        job.training_video_upload_url[1] as string,
        { method: "PUT", headers: { "Content-Length": String(body.length) }, agent: false },
        (r) => {
          r.resume();
          r.on("end", () => resolve({ status: r.statusCode ?? 0, etag: r.headers.etag }));
        },
      );
      req.on("error", reject);
      (async () => {
        // 16 × 250 ms ≈ 4 s in all: longer than the 1 s idle timeout, but never silent for 1 s.
        for (const chunk of chunks) {
          req.write(chunk);
          await sleep(250);
        }
        req.end();
      })();
    });
    expect(res).toEqual({ status: 200, etag: `"${md5(body)}"` });
  });

  it("does not cut requests while the server is busy: slow assembly, a slow blob store", async () => {
    const job = await createJob(2);
    const [part1, part2] = job.training_video_upload_url as [string, string];
    const first = Buffer.concat([MP4_HEAD, randomBytes(300_000)]);
    expect((await fetch(part1, { method: "PUT", body: first })).status).toBe(200);

    // The blob store stops taking bytes for 3 s: the client waits on the server, not the other way.
    const blobs = s.t.runtime.blobs as { -readonly [K in keyof BlobStore]: BlobStore[K] };
    const { put, get } = blobs;
    blobs.put = async (key: string, body: Readable, options?: Parameters<BlobStore["put"]>[2]) => {
      await sleep(3000);
      return put.call(blobs, key, body, options);
    };
    const second = randomBytes(2 * 1024 * 1024);
    try {
      expect((await fetch(part2, { method: "PUT", body: second })).status).toBe(200);
    } finally {
      blobs.put = put;
    }

    // A client that goes silent before the (slow) store has started reading is cut, and takes nothing
    // down with it.
    blobs.put = async (key: string, body: Readable, options?: Parameters<BlobStore["put"]>[2]) => {
      await sleep(2500);
      return put.call(blobs, key, body, options);
    };
    try {
      const url = new URL(part2);
      const conn = await openRaw(s.baseUrl);
      conn.socket.write(
        `PUT ${url.pathname}${url.search} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n`,
      );
      conn.socket.write(randomBytes(100));
      await within(CLOSED_WITHIN_MS, "closing the silent upload", conn.closed);
      await sleep(2500);
      expect((await fetch(`${s.baseUrl}/healthz`)).status).toBe(200);
    } finally {
      blobs.put = put;
    }

    // Assembly reads each part slowly: the command takes several idle timeouts and still answers.
    blobs.get = async (key: string) => {
      await sleep(1500);
      return get.call(blobs, key);
    };
    try {
      const confirmed = await api("POST", `/${job.job_id}/command`, {
        command: "CONFIRM_MULTIPART_UPLOADED",
      });
      expect(confirmed).toMatchObject({ status: 200, body: { commond_result: "EXCUTE_SUCCESS" } });
    } finally {
      blobs.get = get;
    }
  });
});

describe("the connection cap", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer("sqlite", [0], { DOPPEL_MAX_CONNECTIONS: "3" });
  });
  afterAll(async () => s?.close());

  /** Asks a held connection for /healthz and waits for the answer on it. */
  const healthz = async (conn: RawConnection) => {
    const before = conn.received().length;
    conn.socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    const deadline = Date.now() + 5000;
    while (!conn.received().slice(before).endsWith('{"status":"ok"}')) {
      if (Date.now() > deadline) throw new Error("no answer on a held connection within 5 s");
      await sleep(20);
    }
  };

  it("closes connections beyond the cap while the first ones stay served", async () => {
    const held = [await openRaw(s.baseUrl), await openRaw(s.baseUrl), await openRaw(s.baseUrl)];
    for (const conn of held) await healthz(conn);
    const extra = await openRaw(s.baseUrl);
    extra.socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    await within(5000, "closing the connection over the cap", extra.closed);
    expect(extra.received()).toBe("");
    for (const conn of held) await healthz(conn);

    // A freed slot is available again.
    held[0]?.socket.destroy();
    await held[0]?.closed;
    await sleep(100);
    const next = await openRaw(s.baseUrl);
    await healthz(next);
    for (const conn of [...held, next]) conn.socket.destroy();
  });
});

describe("stopping the server", () => {
  it("does not wait out the keep-alive timeout for a connection that was still answering", async () => {
    const s = await startTestServer("sqlite", [0], { DOPPEL_CONSENT: "optional" });
    let closing: Promise<void> | undefined;
    try {
      const [project] = s.projects as [TestServer["projects"][number]];
      const api = tokenApi(s, project);
      const created = (
        await api<{ job_id: string; grant_file_upload_url: string }>("POST", "", { name: "Big" })
      ).body;
      // Large enough that the answer waits on a client that does not read (socket buffers fill).
      const big = Buffer.concat([MP4_HEAD, randomBytes(16 * 1024 * 1024)]);
      expect((await fetch(created.grant_file_upload_url, { method: "PUT", body: big })).status).toBe(200);
      const shown = await api<{ grant_file_download_url: string }>("GET", `/${created.job_id}`);
      const url = new URL(shown.body.grant_file_download_url);

      const conn = await openRaw(s.baseUrl);
      conn.socket.pause();
      conn.socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await sleep(300);
      // Stop while the download is still going out, then let the client read it to the end: the
      // connection is now idle, and closing must close it rather than keep it for the next request.
      closing = s.close();
      conn.socket.resume();
      await within(10_000, "the server's close", closing);
      expect(conn.received().length).toBeGreaterThan(big.length);
      await within(1000, "the connection's close", conn.closed);
    } finally {
      if (closing === undefined) await s.close();
    }
  });
});
