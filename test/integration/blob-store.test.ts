import { createHash, randomBytes } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isValidKey } from "../../src/blobs/blob-key.js";
import { BlobNotFoundError, type BlobStore, BlobTooLargeError } from "../../src/blobs/blob-store.js";
import { LocalBlobStore } from "../../src/blobs/local-blob-store.js";
import { S3BlobStore } from "../../src/blobs/s3-blob-store.js";
import { startS3Server, type TestS3Server } from "../support/s3-server.js";

const MiB = 1024 * 1024;

/** A full collection, without starting the test process with --expose-gc. */
const collectGarbage: () => void = (() => {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc");
})();

/** A store under test, and a way to see what it left outside its keys. */
interface Harness {
  readonly store: BlobStore;
  /** Temp files, temp objects and unfinished multipart uploads: after any put, there must be none. */
  leftovers(): Promise<string[]>;
  dispose(): Promise<void>;
}

async function openLocal(): Promise<Harness & { readonly root: string }> {
  const root = mkdtempSync(join(tmpdir(), "doppel-blobs-"));
  return {
    root,
    store: new LocalBlobStore(root),
    async leftovers() {
      return readdirSync(root, { recursive: true, encoding: "utf8" }).filter((path) =>
        path.split("/").some((name) => name.startsWith(".doppel-tmp-")),
      );
    },
    async dispose() {
      rmSync(root, { recursive: true, force: true });
    },
  };
}

async function openS3(): Promise<Harness & { readonly store: S3BlobStore; readonly server: TestS3Server }> {
  const server = await startS3Server();
  const options = {
    endpoint: server.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: server.credentials,
  };
  const store = new S3BlobStore({ ...options, bucket: server.bucket, prefix: "doppel" });
  const raw = new S3Client(options);
  return {
    store,
    server,
    async leftovers() {
      const listed = await raw.send(new ListObjectsV2Command({ Bucket: server.bucket }));
      const keys = (listed.Contents ?? []).map((o) => o.Key ?? "").filter((k) => k.includes(".doppel"));
      return [...keys, ...server.pendingMultipartUploads().map((id) => `multipart upload ${id}`)];
    },
    async dispose() {
      store.close();
      raw.destroy();
      await server.close();
    },
  };
}

const md5 = (data: Uint8Array) => createHash("md5").update(data).digest("hex");
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Digests a stream without keeping it. */
async function digestStream(stream: Readable): Promise<{ size: number; md5: string; sha256: string }> {
  const m = createHash("md5");
  const s = createHash("sha256");
  let size = 0;
  for await (const chunk of stream) {
    m.update(chunk as Buffer);
    s.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, md5: m.digest("hex"), sha256: s.digest("hex") };
}

/** `size` random bytes made as they are read (never all in memory); digests are known once it has ended. */
function generatedBody(size: number) {
  const m = createHash("md5");
  const s = createHash("sha256");
  let produced = 0;
  const stream = new Readable({
    read() {
      if (produced >= size) {
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(256 * 1024, size - produced));
      m.update(chunk);
      s.update(chunk);
      produced += chunk.length;
      this.push(chunk);
    },
  });
  return { stream, digests: () => ({ md5: m.digest("hex"), sha256: s.digest("hex") }) };
}

/** Sends `bytes` random bytes, then fails the way an aborted client upload does. */
function failingBody(bytes: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= bytes) {
        this.destroy(new Error("client went away"));
        return;
      }
      const chunk = randomBytes(Math.min(64 * 1024, bytes - sent));
      sent += chunk.length;
      this.push(chunk);
    },
  });
}

const body = (data: Uint8Array | string) => Readable.from([Buffer.from(data)]);

describe.each(["local", "s3"] as const)("%s blob store", (kind) => {
  let h: Harness;
  let store: BlobStore;
  let cases = 0;
  /** A key namespace of its own for each test, so tests neither see nor disturb each other's blobs. */
  const ns = () => `case-${++cases}`;

  beforeAll(async () => {
    h = kind === "local" ? await openLocal() : await openS3();
    store = h.store;
  });
  afterAll(async () => {
    await h?.dispose();
  });
  afterEach(async () => {
    expect(await h.leftovers()).toEqual([]);
  });

  it("round-trips binary content and reports its size, hex MD5 and SHA-256", async () => {
    const key = `${ns()}/jobs/1/cover`;
    const data = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(100_000)]);
    const stored = await store.put(key, body(data), { contentType: "image/png" });
    expect(stored).toEqual({ key, size: data.length, etag: md5(data), sha256: sha256(data) });
    expect(stored.etag).toMatch(/^[0-9a-f]{32}$/);
    expect((await readAll(await store.get(key))).equals(data)).toBe(true);
    expect(await store.head(key)).toEqual({ key, size: data.length, etag: md5(data) });
  });

  it("stores an empty blob", async () => {
    const key = `${ns()}/empty`;
    expect(await store.put(key, Readable.from([]))).toEqual({
      key,
      size: 0,
      etag: md5(Buffer.alloc(0)),
      sha256: sha256(Buffer.alloc(0)),
    });
    expect((await readAll(await store.get(key))).length).toBe(0);
    expect(await store.list(key)).toEqual([{ key, size: 0, etag: md5(Buffer.alloc(0)) }]);
  });

  it("reports a missing key: get rejects with BlobNotFoundError, head is undefined, delete is a no-op", async () => {
    const key = `${ns()}/missing`;
    await expect(store.get(key)).rejects.toBeInstanceOf(BlobNotFoundError);
    await expect(store.get(key)).rejects.toMatchObject({ key });
    expect(await store.head(key)).toBeUndefined();
    await expect(store.delete(key)).resolves.toBeUndefined();
  });

  it("reads a byte range: end inclusive, clamped to the last byte, empty from past the end", async () => {
    const key = `${ns()}/ranged`;
    const data = randomBytes(300_000);
    await store.put(key, body(data));
    const read = async (start: number, end: number) => readAll(await store.get(key, { start, end }));
    expect((await read(0, 0)).equals(data.subarray(0, 1))).toBe(true);
    expect((await read(1000, 1999)).equals(data.subarray(1000, 2000))).toBe(true);
    expect((await read(299_999, 299_999)).equals(data.subarray(299_999))).toBe(true);
    expect((await read(250_000, 10_000_000)).equals(data.subarray(250_000))).toBe(true);
    expect((await read(0, data.length - 1)).equals(data)).toBe(true);
    expect((await read(data.length, data.length + 10)).length).toBe(0);
    expect((await read(5_000_000, 6_000_000)).length).toBe(0);
    const empty = `${ns()}/empty-ranged`;
    await store.put(empty, Readable.from([]));
    expect((await readAll(await store.get(empty, { start: 0, end: 0 }))).length).toBe(0);
    await expect(store.get(`${ns()}/missing`, { start: 0, end: 1 })).rejects.toBeInstanceOf(
      BlobNotFoundError,
    );
    for (const bad of [
      { start: -1, end: 3 },
      { start: 4, end: 3 },
      { start: 0.5, end: 3 },
      { start: 0, end: Number.NaN },
    ]) {
      await expect(store.get(key, bad), JSON.stringify(bad)).rejects.toThrow(RangeError);
    }
  });

  it("reads random byte ranges of a blob exactly (property)", async () => {
    const key = `${ns()}/ranged-property`;
    const data = randomBytes(70_000);
    await store.put(key, body(data));
    await fc.assert(
      fc.asyncProperty(fc.nat(80_000), fc.nat(80_000), async (a, b) => {
        const [start, end] = a <= b ? [a, b] : [b, a];
        const read = await readAll(await store.get(key, { start, end }));
        expect(read.equals(data.subarray(start, end + 1))).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it("lists by plain string prefix, sorted by key as S3 sorts (UTF-8 bytes), with sizes and etags", async () => {
    const base = ns();
    // `-` (0x2d) sorts before `/` (0x2f): a directory walk that lists `a/…` first would be wrong.
    const names = ["ab", "a/b2/d", "a-b", "a/b1", "a/b2/c", "a/b1x", "b", "a/é", "a/z"];
    for (const [i, name] of names.entries()) await store.put(`${base}/${name}`, body("x".repeat(i)));
    const keysOf = async (prefix: string) => (await store.list(`${base}/${prefix}`)).map((b) => b.key);

    expect(await keysOf("")).toEqual(
      ["a-b", "a/b1", "a/b1x", "a/b2/c", "a/b2/d", "a/z", "a/é", "ab", "b"].map((n) => `${base}/${n}`),
    );
    expect(await keysOf("a/b")).toEqual(["a/b1", "a/b1x", "a/b2/c", "a/b2/d"].map((n) => `${base}/${n}`));
    expect(await keysOf("a/b1")).toEqual([`${base}/a/b1`, `${base}/a/b1x`]);
    expect(await keysOf("a/b1x")).toEqual([`${base}/a/b1x`]);
    expect(await keysOf("a/b2/")).toEqual([`${base}/a/b2/c`, `${base}/a/b2/d`]);
    expect(await keysOf("a/b3")).toEqual([]);
    expect(await keysOf("nothing/here/")).toEqual([]);
    expect(await store.list(`${base}/a/b2/c`)).toEqual([
      { key: `${base}/a/b2/c`, size: 4, etag: md5(Buffer.from("xxxx")) },
    ]);
  });

  it("keeps a key and keys below it apart, as S3 does (`a` and `a/b` both exist)", async () => {
    const base = ns();
    await store.put(`${base}/video`, body("whole"));
    await store.put(`${base}/video/parts/00001`, body("part 1"));
    expect((await store.list(`${base}/`)).map((b) => b.key)).toEqual([
      `${base}/video`,
      `${base}/video/parts/00001`,
    ]);
    await store.delete(`${base}/video`);
    expect(await store.head(`${base}/video`)).toBeUndefined();
    expect((await readAll(await store.get(`${base}/video/parts/00001`))).toString()).toBe("part 1");
    await store.put(`${base}/video`, body("again"));
    await store.delete(`${base}/video/parts/00001`);
    expect((await readAll(await store.get(`${base}/video`))).toString()).toBe("again");
  });

  it("deletes one key, and every key under a plain string prefix, counting them", async () => {
    const base = ns();
    for (const name of ["x/a1", "x/a1/deeper", "x/a2/c", "x/b", "y"])
      await store.put(`${base}/${name}`, body(name));
    await store.delete(`${base}/y`);
    expect(await store.head(`${base}/y`)).toBeUndefined();
    await expect(store.get(`${base}/y`)).rejects.toBeInstanceOf(BlobNotFoundError);

    expect(await store.deletePrefix(`${base}/x/a`)).toBe(3);
    expect((await store.list(`${base}/`)).map((b) => b.key)).toEqual([`${base}/x/b`]);
    expect(await store.deletePrefix(`${base}/x/a`)).toBe(0);
    expect(await store.deletePrefix(`${base}/`)).toBe(1);
    expect(await store.list(`${base}/`)).toEqual([]);
  });

  it("replaces a blob on a second put, and head and list report the new content", async () => {
    const key = `${ns()}/file`;
    await store.put(key, body("first version"));
    const second = randomBytes(50_000);
    await store.put(key, body(second));
    expect((await readAll(await store.get(key))).equals(second)).toBe(true);
    expect(await store.head(key)).toEqual({ key, size: second.length, etag: md5(second) });
    expect(await store.list(key)).toEqual([{ key, size: second.length, etag: md5(second) }]);
  });

  // 12 MiB goes past the first part: on S3 that is the multipart path, whose parts must be aborted.
  it.each([
    ["1 KiB", 1024],
    ["12 MiB", 12 * MiB],
  ])("keeps the previous blob whole when a body fails after %s", async (_, bytes) => {
    const base = ns();
    const key = `${base}/video`;
    const previous = randomBytes(10_000);
    await store.put(key, body(previous));
    await expect(store.put(key, failingBody(bytes))).rejects.toThrow("client went away");
    expect((await readAll(await store.get(key))).equals(previous)).toBe(true);
    expect(await store.list(`${base}/`)).toEqual([{ key, size: previous.length, etag: md5(previous) }]);
    await expect(store.put(`${base}/new`, failingBody(bytes))).rejects.toThrow("client went away");
    expect(await store.head(`${base}/new`)).toBeUndefined();
  });

  it.each([
    ["small", 10_000, 1_000],
    ["multipart", 12 * MiB, 7 * MiB],
  ])(
    "refuses a %s body over maxBytes with BlobTooLargeError and stores nothing",
    async (_, size, maxBytes) => {
      const base = ns();
      const key = `${base}/cover`;
      const previous = Buffer.from("previous");
      await store.put(key, body(previous));
      const error = await store.put(key, generatedBody(size).stream, { maxBytes }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BlobTooLargeError);
      expect(error).toMatchObject({ maxBytes });
      expect((await readAll(await store.get(key))).equals(previous)).toBe(true);
      await expect(store.put(`${base}/new`, generatedBody(size).stream, { maxBytes })).rejects.toBeInstanceOf(
        BlobTooLargeError,
      );
      expect((await store.list(`${base}/`)).map((b) => b.key)).toEqual([key]);
    },
  );

  it("accepts a body of exactly maxBytes", async () => {
    const key = `${ns()}/exact`;
    const data = randomBytes(1_000);
    expect(await store.put(key, body(data), { maxBytes: 1_000 })).toMatchObject({
      size: 1_000,
      etag: md5(data),
    });
  });

  it.each([
    ["small", 300_000],
    ["multipart", 6 * MiB],
  ])("ends concurrent %s puts to one key with one whole body, and head agrees with it", async (_, size) => {
    const key = `${ns()}/raced`;
    const bodies = [randomBytes(size), randomBytes(size), randomBytes(size)];
    await Promise.all(bodies.map((b) => store.put(key, body(b))));
    const content = await readAll(await store.get(key));
    expect(bodies.map(md5)).toContain(md5(content));
    expect(await store.head(key)).toEqual({ key, size: content.length, etag: md5(content) });
  });

  it("streams a 64 MiB body in and out without holding it in memory", async () => {
    const key = `${ns()}/training-video`;
    const size = 64 * MiB;
    const generated = generatedBody(size);
    // Live Buffer memory, where a buffered body would sit. Collected first, or chunks already freed would
    // count; twice, because V8 releases freed buffers in the background and finishes that before the next
    // collection. (rss is not asserted: the allocator keeps freed pages, so it moves with GC timing.)
    const liveBuffers = () => {
      collectGarbage();
      collectGarbage();
      return process.memoryUsage().arrayBuffers;
    };
    const before = liveBuffers();
    let peak = before;
    // Not more often: each sample is two full collections, which would slow the transfer down a lot.
    const timer = setInterval(() => {
      peak = Math.max(peak, liveBuffers());
    }, 250);
    try {
      const stored = await store.put(key, generated.stream);
      const read = await digestStream(await store.get(key));
      const expected = generated.digests();
      expect(stored).toEqual({ key, size, etag: expected.md5, sha256: expected.sha256 });
      expect(read).toEqual({ size, md5: expected.md5, sha256: expected.sha256 });
    } finally {
      clearInterval(timer);
    }
    // Streaming holds a few chunks locally, and about 28 MiB on S3 (lib-storage: 4 parts of 5 MiB in
    // flight, one being filled); buffering the body would hold all 64 MiB.
    expect(peak - before).toBeLessThan(48 * MiB);
  }, 60_000);

  it("refuses keys that are not clean relative paths, and prefixes no key can have match nothing", async () => {
    const bad = [
      "../x",
      "/abs",
      "a//b",
      "a\\b",
      "a/../b",
      "a/./b",
      ".",
      "",
      "a/",
      "a\u0000b",
      "a\nb",
      "x/.doppel-blob",
    ];
    for (const key of bad) {
      await expect(store.put(key, body("no")), key).rejects.toThrow(/invalid blob key/);
      await expect(store.get(key), key).rejects.toThrow(/invalid blob key/);
      await expect(store.head(key), key).rejects.toThrow(/invalid blob key/);
      await expect(store.delete(key), key).rejects.toThrow(/invalid blob key/);
    }
    for (const prefix of ["../", "/", "a//", "..\\", "x/../", ".doppel"]) {
      expect(await store.list(prefix), prefix).toEqual([]);
      expect(await store.deletePrefix(prefix), prefix).toBe(0);
    }
  });

  it("round-trips arbitrary content under arbitrary valid keys (property)", async () => {
    const base = ns();
    const segment = fc
      .string({
        unit: fc.oneof(
          fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }),
          fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }),
        ),
        minLength: 1,
        maxLength: 12,
      })
      .filter((s) => !s.includes("/") && isValidKey(s));
    const chunks = fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 6 });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(segment, { minLength: 1, maxLength: 4 }), chunks, async (segments, parts) => {
        const key = `${base}/${++run}/${segments.join("/")}`;
        const data = Buffer.concat(parts);
        const stored = await store.put(key, Readable.from(parts.map((p) => Buffer.from(p))), {
          maxBytes: data.length,
        });
        expect(stored).toEqual({ key, size: data.length, etag: md5(data), sha256: sha256(data) });
        expect((await readAll(await store.get(key))).equals(data)).toBe(true);
        expect(await store.head(key)).toEqual({ key, size: data.length, etag: md5(data) });
        expect(await store.list(key)).toEqual([{ key, size: data.length, etag: md5(data) }]);
        await store.delete(key);
        expect(await store.head(key)).toBeUndefined();
      }),
      { numRuns: 30 },
    );
  });
});

describe("local blob store layout", () => {
  let h: Awaited<ReturnType<typeof openLocal>>;
  beforeAll(async () => {
    h = await openLocal();
  });
  afterAll(async () => {
    await h?.dispose();
  });

  it("keeps every key inside the root", async () => {
    const outside = join(h.root, "..", "escaped");
    await expect(h.store.put("../escaped", body("no"))).rejects.toThrow(/invalid blob key/);
    expect(existsSync(outside)).toBe(false);
    await h.store.put("jobs/1/cover", body("yes"));
    expect(readdirSync(h.root)).toEqual(["jobs"]);
  });

  it("does not trust a digest sidecar that describes another file", async () => {
    const dir = join(h.root, "stale");
    await h.store.put("stale", body("first"));
    copyFileSync(join(dir, ".doppel-meta.json"), join(h.root, "old-meta.json"));
    await h.store.put("stale", body("second, longer"));
    // What a crash between the data rename and the sidecar rename leaves.
    copyFileSync(join(h.root, "old-meta.json"), join(dir, ".doppel-meta.json"));
    rmSync(join(h.root, "old-meta.json"));
    const fresh = { key: "stale", size: 14, etag: md5(Buffer.from("second, longer")) };
    expect(await h.store.head("stale")).toEqual(fresh);
    expect(await h.store.list("stale")).toEqual([fresh]);
  });

  it("leaves no directories behind when a put of a new key fails", async () => {
    await expect(h.store.put("jobs/3/training-video/file", failingBody(1024))).rejects.toThrow("went away");
    expect(existsSync(join(h.root, "jobs", "3"))).toBe(false);
  });

  it("sweeps temporary files a killed writer left, on the next write or delete of the key, but not a live one's", async () => {
    await h.store.put("jobs/4/cover", body("v1"));
    const dir = join(h.root, "jobs", "4", "cover");
    const stale = join(dir, ".doppel-tmp-killed");
    const live = join(dir, ".doppel-tmp-writing");
    writeFileSync(stale, "half");
    writeFileSync(live, "half");
    const hourAgo = new Date(Date.now() - 3600_000);
    utimesSync(stale, hourAgo, hourAgo);
    await h.store.put("jobs/4/cover", body("v2"));
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(live)).toBe(true);
    utimesSync(live, hourAgo, hourAgo);
    expect(await h.store.deletePrefix("jobs/4/")).toBe(1);
    expect(existsSync(join(h.root, "jobs", "4"))).toBe(false);
  });

  it("removes emptied directories when blobs are deleted", async () => {
    await h.store.put("jobs/2/training-video/parts/00001", body("p1"));
    await h.store.put("jobs/2/training-video/parts/00002", body("p2"));
    expect(await h.store.deletePrefix("jobs/2/")).toBe(2);
    expect(existsSync(join(h.root, "jobs", "2"))).toBe(false);
  });
});

describe("s3 blob store presigned URLs", () => {
  let h: Awaited<ReturnType<typeof openS3>>;
  beforeAll(async () => {
    h = await openS3();
  });
  afterAll(async () => {
    await h?.dispose();
  });

  it("lets a client PUT and GET directly, and head reports the uploaded content", async () => {
    const data = randomBytes(20_000);
    const putUrl = await h.store.presignPut("jobs/9/grant-file", 600);
    // A checksum of the (empty) body signed into the URL would make S3 reject every real upload.
    expect(new URL(putUrl).searchParams.has("x-amz-checksum-crc32")).toBe(false);
    const put = await fetch(putUrl, { method: "PUT", body: data });
    expect(put.status).toBe(200);
    expect(await h.store.head("jobs/9/grant-file")).toEqual({
      key: "jobs/9/grant-file",
      size: data.length,
      etag: md5(data),
    });
    const got = await fetch(await h.store.presignGet("jobs/9/grant-file", 600));
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(data)).toBe(true);
  });
});
