import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import S3rver from "s3rver";

/**
 * A real S3-protocol server for tests: s3rver, in this process, storing in a temp directory. s3rver 3.7
 * speaks enough of the protocol for the AWS SDK v3 (signatures, multipart, copy, batch delete); where it
 * departs from S3 in ways the blob store tests depend on, this file patches it (see `makeWritesAtomic`,
 * `fixRanges` and `abortMultipartUpload`).
 */
export interface TestS3Server {
  /** `http://127.0.0.1:<port>`; use path-style addressing. */
  readonly endpoint: string;
  /** A bucket made for this server alone. */
  readonly bucket: string;
  /** s3rver checks signatures against this fixed pair. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** The settings that make a Doppel server use this bucket (`DOPPEL_BLOB_STORE=s3` and friends). */
  doppelEnv(): Record<string, string>;
  /** Multipart uploads begun and neither completed nor aborted. */
  pendingMultipartUploads(): string[];
  close(): Promise<void>;
}

/** The part of a Koa context the abort handler uses (s3rver is a Koa app; its types do not say so). */
interface KoaContext {
  readonly method: string;
  readonly query: Record<string, string | string[] | undefined>;
  status: number;
}
type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

/** The parts of s3rver's FilesystemStore that `makeWritesAtomic` replaces or uses. */
interface FilesystemStore {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: unknown, md5: string): Promise<void>;
  putObject(object: {
    readonly bucket: string;
    readonly key: string;
    readonly metadata: unknown;
    readonly content: Readable | Buffer;
  }): Promise<{ size: number; md5: string }>;
  getObject(bucket: string, key: string, options?: unknown): Promise<unknown>;
  copyObject(
    srcBucket: string,
    srcKey: string,
    destBucket: string,
    destKey: string,
    metadata: unknown,
  ): Promise<unknown>;
}

/** Every database with every blob store, for suites that must hold on all four. */
export const STORE_SETUPS = [
  ["sqlite", "local"],
  ["postgres", "local"],
  ["sqlite", "s3"],
  ["postgres", "s3"],
] as const;

/**
 * s3rver writes an object straight into its final file and answers before that write has finished, so
 * concurrent puts to one key interleave their bytes (and digest files) and an immediate GET can read a
 * short file. S3 replaces an object atomically, and the stores' tests rely on it: here each write to a
 * key waits for the previous one, goes to a temp file, is flushed, and is renamed into place.
 */
function makeWritesAtomic(store: FilesystemStore): void {
  const queues = new Map<string, Promise<unknown>>();
  const oneAtATime = <T>(id: string, work: () => Promise<T>): Promise<T> => {
    const current = (queues.get(id) ?? Promise.resolve()).catch(() => {}).then(work);
    queues.set(id, current);
    void current
      .finally(() => {
        if (queues.get(id) === current) queues.delete(id);
      })
      .catch(() => {});
    return current;
  };
  store.putObject = (object) =>
    oneAtATime(`${object.bucket}/${object.key}`, async () => {
      const objectPath = store.getResourcePath(object.bucket, object.key, "object");
      await mkdir(dirname(objectPath), { recursive: true });
      // s3rver lists only files ending in its object suffix, so the temp file never shows.
      const temp = `${objectPath}.${randomBytes(8).toString("hex")}`;
      const md5 = createHash("md5");
      let size = 0;
      const content = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
      try {
        await pipeline(
          content,
          async function* (source: AsyncIterable<Buffer>) {
            for await (const chunk of source) {
              md5.update(chunk);
              size += chunk.length;
              yield chunk;
            }
          },
          createWriteStream(temp),
        );
        await rename(temp, objectPath);
      } catch (error) {
        await rm(temp, { force: true });
        throw error;
      }
      const digest = md5.digest("hex");
      await store.putMetadata(object.bucket, object.key, object.metadata, digest);
      return { size, md5: digest };
    });
  // s3rver reads an object's size and MD5 (stat, `.md5` file) before it opens the content, so a read
  // racing a write could pair the old size with the new content (a truncated body) or the old ETag with
  // it. S3 serves a consistent version; queueing the read's metadata-and-open behind writes does too
  // (once opened, the stream keeps the old file even if a write renames a new one over it).
  const getObject = store.getObject.bind(store);
  store.getObject = (bucket, key, options) =>
    oneAtATime(`${bucket}/${key}`, () => getObject(bucket, key, options));
  const copyObject = store.copyObject.bind(store);
  store.copyObject = (srcBucket, srcKey, destBucket, destKey, metadata) =>
    oneAtATime(`${destBucket}/${destKey}`, () =>
      copyObject(srcBucket, srcKey, destBucket, destKey, metadata),
    );
}

/**
 * s3rver reads a range's end as `end || Infinity`, so `Range: bytes=0-0` (the first byte; S3 answers
 * 206 with one byte) reads the whole object; and it answers a range of an empty object with a 206 that
 * promises one byte and sends none, where S3 answers 416 InvalidRange. Both fixed here. (Its parser
 * also takes `bytes=-n` for `bytes=0-n`; no test sends it a suffix range.)
 */
function fixRanges(store: FilesystemStore): void {
  const getObject = store.getObject.bind(store);
  store.getObject = async (bucket, key, options) => {
    const object = (await getObject(bucket, key, options)) as {
      content: Readable | null;
      size: number;
      range?: { start: number; end: number };
    } | null;
    if (!object?.content || object.range === undefined) return object;
    if (object.size === 0) {
      object.content.destroy();
      object.content = null; // s3rver's "range out of range": 416 InvalidRange
    } else if ((options as { end?: number } | undefined)?.end === 0 && object.range.start === 0) {
      object.content.destroy();
      object.content = createReadStream(store.getResourcePath(bucket, key, "object"), { start: 0, end: 0 });
      object.range = { start: 0, end: 0 };
    }
    return object;
  };
}

export async function startS3Server(): Promise<TestS3Server> {
  const directory = mkdtempSync(join(tmpdir(), "doppel-s3-"));
  const bucket = `doppel-test-${randomBytes(4).toString("hex")}`;
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    directory,
    silent: true,
    // Path-style only: the default treats `<bucket>.amazonaws.com` hosts as buckets, which we never use.
    vhostBuckets: false,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  makeWritesAtomic((server as unknown as { store: FilesystemStore }).store);
  fixRanges((server as unknown as { store: FilesystemStore }).store);
  // Where s3rver keeps a bucket's unfinished multipart uploads, one directory per upload id.
  const uploadsDir = join(directory, bucket, "._S3rver_uploads");
  // Implements AbortMultipartUpload, which s3rver lacks, so that the SDK's abort of a failed upload
  // succeeds and tests can check that a failed put leaves no parts behind. Koa composes its middleware
  // when the server starts, so one put first in the list runs before s3rver's router.
  const abortMultipartUpload: KoaMiddleware = async (ctx, next) => {
    const uploadId = ctx.query.uploadId;
    if (ctx.method === "DELETE" && typeof uploadId === "string" && /^[0-9a-f]+$/.test(uploadId)) {
      rmSync(join(uploadsDir, uploadId), { recursive: true, force: true });
      ctx.status = 204;
      return;
    }
    await next();
  };
  (server as unknown as { middleware: KoaMiddleware[] }).middleware.unshift(abortMultipartUpload);
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    doppelEnv() {
      return {
        DOPPEL_BLOB_STORE: "s3",
        DOPPEL_S3_BUCKET: bucket,
        DOPPEL_S3_ENDPOINT: `http://127.0.0.1:${port}`,
        DOPPEL_S3_ACCESS_KEY_ID: "S3RVER",
        DOPPEL_S3_SECRET_ACCESS_KEY: "S3RVER",
      };
    },
    pendingMultipartUploads() {
      return existsSync(uploadsDir) ? readdirSync(uploadsDir) : [];
    },
    async close() {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
