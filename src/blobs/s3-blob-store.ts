import { randomUUID } from "node:crypto";
import { pipeline, Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { assertValidKey, compareKeys, isValidKey, prefixCanMatch, RESERVED_PREFIX } from "./blob-key.js";
import {
  assertValidRange,
  type BlobInfo,
  BlobNotFoundError,
  type BlobStore,
  type ByteRange,
  type PutOptions,
  type StoredBlob,
} from "./blob-store.js";
import { type ContentDigests, ContentHasher } from "./content-hasher.js";
import { mapConcurrently } from "./map-concurrently.js";

export interface S3BlobStoreOptions {
  readonly bucket: string;
  /** For S3-compatible services (MinIO, Ceph, R2 …); AWS when absent. */
  readonly endpoint?: string;
  readonly region: string;
  /** `http://host/bucket/key` rather than `http://bucket.host/key`; most S3-compatible services need it. */
  readonly forcePathStyle: boolean;
  /** The SDK's default chain (environment, profile, instance role) when absent. */
  readonly credentials?: {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly sessionToken?: string;
  };
  /** Prepended to every key (`doppel/` → `doppel/jobs/…`) so one bucket can hold other data; `/` is added. */
  readonly prefix?: string;
}

/**
 * Multipart part size. lib-storage holds up to QUEUE_SIZE parts in memory while they upload, so a put
 * uses about (QUEUE_SIZE + 1) × PART_SIZE = 25 MiB whatever the body's size; 10,000 parts allow 48 GiB.
 */
const PART_SIZE = 5 * 1024 * 1024;
const QUEUE_SIZE = 4;
/** CopyObject's limit; larger objects are copied part by part. */
const MAX_COPY_OBJECT_BYTES = 5 * 1024 * 1024 * 1024;
const COPY_PART_SIZE = 512 * 1024 * 1024;
/** Where puts stage content; `.doppel…` segments are invalid in caller keys, so none can collide. */
const TEMP_DIR = `${RESERVED_PREFIX}-tmp`;
/** How many HEAD requests list sends at once. */
const CONCURRENCY = 16;

/**
 * Blobs in an S3 bucket (or any S3-compatible service).
 *
 * Etags: S3's own ETag is the MD5 only for single-part uploads, so every object carries its hex MD5 and
 * SHA-256 as user metadata (`x-amz-meta-md5`, `x-amz-meta-sha256`), which head and list report.
 * Metadata must be sent before the content, but a streamed body's MD5 is known only after it, so:
 * - a body that ends within the first PART_SIZE bytes is sent as one PutObject with its metadata;
 * - a larger one is streamed by lib-storage (multipart, aborted on error so no parts linger) to a temp key,
 *   then server-side copied to the real key with the metadata (MetadataDirective REPLACE), then the temp
 *   object is deleted. The copy costs time proportional to the size on the server, not our bandwidth.
 * Both PutObject and CopyObject replace an object atomically, so readers see the old blob or the whole new
 * one, and a body that fails never reaches the real key. A crash between copy and delete leaves an object
 * under `<prefix>.doppel-tmp/`; a bucket lifecycle rule expiring that prefix (and incomplete multipart
 * uploads) after a day cleans up after crashes.
 */
export class S3BlobStore implements BlobStore {
  readonly kind = "s3";
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(options: S3BlobStoreOptions) {
    this.#client = new S3Client({
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
      ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
      // We digest every body ourselves. The SDK's default CRC32 on every request would also sign
      // `x-amz-checksum-crc32` of an empty body into presigned PUT URLs, which then reject any upload,
      // and some S3-compatible services refuse the trailing checksums it sends.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    this.#bucket = options.bucket;
    const prefix = options.prefix ?? "";
    this.#prefix = prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<StoredBlob> {
    try {
      assertValidKey(key);
    } catch (error) {
      body.destroy();
      throw error;
    }
    const hasher = new ContentHasher(options.maxBytes);
    // An error on either side destroys both: a failing body fails the upload, a failed upload stops the body.
    const source = pipeline(body, hasher, () => {});
    const chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const contentType = options.contentType ?? "application/octet-stream";
    let rest: Readable | undefined;
    try {
      const first: Buffer[] = [];
      let firstBytes = 0;
      while (firstBytes <= PART_SIZE) {
        const next = await chunks.next();
        if (next.done) {
          const digests = hasher.digests();
          await this.#client.send(
            new PutObjectCommand({
              Bucket: this.#bucket,
              Key: this.#objectKey(key),
              Body: Buffer.concat(first),
              ContentType: contentType,
              Metadata: metadataOf(digests),
            }),
          );
          return storedBlob(key, digests);
        }
        first.push(next.value);
        firstBytes += next.value.length;
      }
      rest = Readable.from(
        (async function* () {
          yield* first.splice(0);
          for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
        })(),
        { objectMode: false },
      );
      return await this.#putLarge(key, rest, contentType, hasher);
    } catch (error) {
      // Prefer the body's own error (or BlobTooLargeError) to whatever the SDK made of it.
      const cause = source.errored ?? error;
      rest?.destroy();
      source.destroy();
      throw cause;
    }
  }

  async #putLarge(
    key: string,
    rest: Readable,
    contentType: string,
    hasher: ContentHasher,
  ): Promise<StoredBlob> {
    const tempKey = `${this.#prefix}${TEMP_DIR}/${randomUUID()}`;
    try {
      await new Upload({
        client: this.#client,
        params: { Bucket: this.#bucket, Key: tempKey, Body: rest, ContentType: contentType },
        partSize: PART_SIZE,
        queueSize: QUEUE_SIZE,
        leavePartsOnError: false,
      }).done();
      const digests = hasher.digests();
      await this.#copyWithMetadata(tempKey, this.#objectKey(key), digests, contentType);
      return storedBlob(key, digests);
    } finally {
      await this.#client
        .send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: tempKey }))
        .catch(() => {}); // a leftover is only garbage under the temp prefix; see the class comment
    }
  }

  async #copyWithMetadata(from: string, to: string, digests: ContentDigests, contentType: string) {
    const copySource = `${this.#bucket}/${from.split("/").map(encodeURIComponent).join("/")}`;
    if (digests.size <= MAX_COPY_OBJECT_BYTES) {
      await this.#client.send(
        new CopyObjectCommand({
          Bucket: this.#bucket,
          Key: to,
          CopySource: copySource,
          MetadataDirective: "REPLACE",
          Metadata: metadataOf(digests),
          ContentType: contentType,
        }),
      );
      return;
    }
    // CopyObject refuses sources over 5 GiB: copy byte ranges as parts of a new multipart upload, which
    // S3 also makes visible atomically, on completion.
    const { UploadId } = await this.#client.send(
      new CreateMultipartUploadCommand({
        Bucket: this.#bucket,
        Key: to,
        Metadata: metadataOf(digests),
        ContentType: contentType,
      }),
    );
    try {
      const partSize = Math.max(COPY_PART_SIZE, Math.ceil(digests.size / 10_000));
      const ranges = Array.from({ length: Math.ceil(digests.size / partSize) }, (_, i) => ({
        PartNumber: i + 1,
        range: `bytes=${i * partSize}-${Math.min((i + 1) * partSize, digests.size) - 1}`,
      }));
      const parts = await mapConcurrently(ranges, QUEUE_SIZE, async ({ PartNumber, range }) => {
        const result = await this.#client.send(
          new UploadPartCopyCommand({
            Bucket: this.#bucket,
            Key: to,
            UploadId,
            PartNumber,
            CopySource: copySource,
            CopySourceRange: range,
          }),
        );
        return { PartNumber, ETag: result.CopyPartResult?.ETag };
      });
      await this.#client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.#bucket,
          Key: to,
          UploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
    } catch (error) {
      await this.#client
        .send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: to, UploadId }))
        .catch(() => {});
      throw error;
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    assertValidKey(key);
    if (range !== undefined) assertValidRange(range);
    try {
      const result = await this.#client.send(
        new GetObjectCommand({
          Bucket: this.#bucket,
          Key: this.#objectKey(key),
          ...(range !== undefined && { Range: `bytes=${range.start}-${range.end}` }),
        }),
      );
      // In Node the SDK's body is an http.IncomingMessage with helper methods mixed in.
      if (!(result.Body instanceof Readable)) throw new Error(`S3 returned no stream for ${key}`);
      return result.Body;
    } catch (error) {
      if (isNotFound(error)) throw new BlobNotFoundError(key);
      // S3 answers 416 InvalidRange for a range starting at or past the end: that reads nothing.
      if (range !== undefined && isInvalidRange(error)) return Readable.from([]);
      throw error;
    }
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    assertValidKey(key);
    try {
      const result = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#objectKey(key) }),
      );
      // Objects not written by put (a presigned upload, say) have no md5 metadata; for a single-part
      // upload S3's ETag is the MD5.
      const etag = result.Metadata?.md5 ?? result.ETag?.replaceAll('"', "") ?? "";
      return { key, size: result.ContentLength ?? 0, etag };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Costs one HEAD per blob (bounded concurrency): ListObjectsV2 reports S3's ETag but no user metadata. */
  async list(prefix: string): Promise<BlobInfo[]> {
    const keys: string[] = [];
    for await (const page of this.#pages(prefix)) keys.push(...page);
    // Sorted here too: S3 lists in UTF-8 order, but not every S3-compatible service does.
    keys.sort(compareKeys);
    const infos = await mapConcurrently(keys, CONCURRENCY, (key) => this.head(key));
    return infos.filter((info): info is BlobInfo => info !== undefined);
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#objectKey(key) }));
  }

  async deletePrefix(prefix: string): Promise<number> {
    let count = 0;
    for await (const page of this.#pages(prefix)) {
      if (page.length === 0) continue;
      const result = await this.#client.send(
        new DeleteObjectsCommand({
          Bucket: this.#bucket,
          Delete: { Objects: page.map((key) => ({ Key: this.#objectKey(key) })), Quiet: true },
        }),
      );
      const failed = result.Errors ?? [];
      if (failed.length > 0) {
        const first = failed[0];
        throw new Error(
          `could not delete ${failed.length} blob(s) under ${JSON.stringify(prefix)}, first ${first?.Key}: ${first?.Code} ${first?.Message}`,
        );
      }
      count += page.length;
    }
    return count;
  }

  /** A URL that lets a client PUT the content of `key` directly to the bucket until it expires. */
  async presignPut(key: string, expiresInSeconds: number): Promise<string> {
    assertValidKey(key);
    return getSignedUrl(
      this.#client,
      new PutObjectCommand({ Bucket: this.#bucket, Key: this.#objectKey(key) }),
      { expiresIn: expiresInSeconds },
    );
  }

  /** A URL that lets a client GET the content of `key` directly from the bucket until it expires. */
  async presignGet(key: string, expiresInSeconds: number): Promise<string> {
    assertValidKey(key);
    return getSignedUrl(
      this.#client,
      new GetObjectCommand({ Bucket: this.#bucket, Key: this.#objectKey(key) }),
      { expiresIn: expiresInSeconds },
    );
  }

  /** Closes the client's idle connections; the store is unusable afterwards. */
  close(): void {
    this.#client.destroy();
  }

  #objectKey(key: string): string {
    return `${this.#prefix}${key}`;
  }

  /** Pages (of at most 1,000, DeleteObjects' limit) of the valid keys under `prefix`; temp keys are not. */
  async *#pages(prefix: string): AsyncGenerator<string[]> {
    if (!prefixCanMatch(prefix)) return;
    let token: string | undefined;
    do {
      const page = await this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: this.#objectKey(prefix),
          MaxKeys: 1000,
          ...(token !== undefined ? { ContinuationToken: token } : {}),
        }),
      );
      yield (page.Contents ?? [])
        .map((object) => object.Key?.slice(this.#prefix.length))
        .filter((key): key is string => key !== undefined && isValidKey(key));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }
}

function metadataOf(digests: ContentDigests): Record<string, string> {
  return { md5: digests.md5, sha256: digests.sha256 };
}

function storedBlob(key: string, digests: ContentDigests): StoredBlob {
  return { key, size: digests.size, etag: digests.md5, sha256: digests.sha256 };
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === "NoSuchKey" || e?.name === "NotFound" || e?.$metadata?.httpStatusCode === 404;
}

function isInvalidRange(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === "InvalidRange" || e?.$metadata?.httpStatusCode === 416;
}
