import { randomUUID } from "node:crypto";
import type { BigIntStats, Dirent } from "node:fs";
import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rmdir,
  stat,
  unlink,
  writeFile,
} from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
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

/** The content of a key, inside the key's directory. */
const DATA_FILE = `${RESERVED_PREFIX}-blob`;
/** The content's digests, so head and list need not read the content (see `Sidecar`). */
const SIDECAR_FILE = `${RESERVED_PREFIX}-meta.json`;
/** Uploads in progress, beside the file they will replace so the final rename never crosses filesystems. */
const TEMP_PREFIX = `${RESERVED_PREFIX}-tmp-`;

/** How many files list and deletePrefix work on at once: enough to overlap I/O, few enough for EMFILE. */
const CONCURRENCY = 16;
/**
 * A temporary file untouched this long belongs to a writer that died (a killed process): a live upload
 * writes continuously. Such files are swept from a key's directory when the key is written or deleted.
 */
const STALE_TEMP_MS = 10 * 60 * 1000;

/**
 * A data file's digests, with the identity of the file they describe. Two renames cannot be one atomic
 * step, so a reader may see a new data file with the old sidecar (between a put's two renames, after a
 * crash there, or when two puts to one key interleave). The sidecar is therefore only a cache: it counts
 * only while inode, size and mtime match the data file, and otherwise the digest is computed again from
 * the content and the sidecar rewritten.
 */
interface Sidecar {
  readonly md5: string;
  readonly sha256: string;
  readonly size: string;
  readonly ino: string;
  readonly mtimeNs: string;
}

/**
 * Blobs in a directory tree. Each key is a directory (`jobs/1/cover` → `<root>/jobs/1/cover/`) holding
 * the content in `.doppel-blob`, so `a` and `a/b` can both be keys, as in S3. A put writes a temp file
 * in that directory, fsyncs it, renames it over `.doppel-blob` and fsyncs the directory: readers see the
 * old content or the new, never a mix, and a failed put leaves the old content. Several processes may
 * share one root.
 */
/** How much one read of a blob takes from disk. */
const READ_CHUNK_BYTES = 1024 * 1024;

export class LocalBlobStore implements BlobStore {
  readonly kind = "local";
  readonly #root: string;

  constructor(root: string) {
    this.#root = resolve(root);
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<StoredBlob> {
    let dir: string | undefined;
    let temp: string | undefined;
    let committed = false;
    try {
      assertValidKey(key);
      dir = this.#dir(key);
      const created = await this.#createTemp(dir);
      temp = created.path;
      const hasher = new ContentHasher(options.maxBytes);
      const file = await writeDurably(created.handle, body, hasher);
      const digests = hasher.digests();
      await rename(temp, join(dir, DATA_FILE));
      committed = true;
      // Without this a crash soon after put returns could bring back the old content.
      await syncDirectory(dir);
      await this.#writeSidecar(dir, digests, file);
      await sweepStaleTemps(dir, Date.now() - STALE_TEMP_MS);
      return { key, size: digests.size, etag: digests.md5, sha256: digests.sha256 };
    } catch (error) {
      // put owns the body: stop the producer (an HTTP upload, say) rather than leave it waiting.
      body.destroy();
      throw error;
    } finally {
      if (dir !== undefined && !committed) {
        if (temp !== undefined) await unlink(temp).catch(() => {});
        // A failed put of a new key leaves no empty directories behind.
        await this.#prune(dir);
      }
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    assertValidKey(key);
    if (range !== undefined) assertValidRange(range);
    let handle: FileHandle;
    try {
      // Opened before returning, so absence is a rejection and a later put cannot change what is read.
      handle = await open(join(this.#dir(key), DATA_FILE), "r");
    } catch (error) {
      if (isMissing(error)) throw new BlobNotFoundError(key);
      throw error;
    }
    // The stream reads from `start` and stops at `end` or the end of the file, whichever comes first.
    // 1 MiB reads: a download (or a copy) of a large blob costs the server half the CPU of the default
    // 64 KiB reads (bench:download), for at most 1 MiB more buffer per read in flight.
    return handle.createReadStream({
      highWaterMark: READ_CHUNK_BYTES,
      ...(range !== undefined && { start: range.start, end: range.end }),
    });
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    assertValidKey(key);
    return this.#describe(key);
  }

  async list(prefix: string): Promise<BlobInfo[]> {
    const infos = await mapConcurrently(await this.#keys(prefix), CONCURRENCY, (key) => this.#describe(key));
    return infos.filter((info): info is BlobInfo => info !== undefined);
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    await this.#remove(key);
  }

  async deletePrefix(prefix: string): Promise<number> {
    const removed = await mapConcurrently(await this.#keys(prefix), CONCURRENCY, (key) => this.#remove(key));
    return removed.filter(Boolean).length;
  }

  /** The directory of a valid key; validation guarantees it is inside the root. */
  #dir(key: string): string {
    return join(this.#root, ...key.split("/"));
  }

  async #createTemp(dir: string): Promise<{ path: string; handle: FileHandle }> {
    const path = join(dir, `${TEMP_PREFIX}${randomUUID()}`);
    for (let attempt = 1; ; attempt++) {
      await mkdir(dir, { recursive: true });
      try {
        return { path, handle: await open(path, "wx") };
      } catch (error) {
        // A delete of a neighbouring key may prune the directory between mkdir and open: make it again.
        if (code(error) !== "ENOENT" || attempt === 5) throw error;
      }
    }
  }

  async #describe(key: string): Promise<BlobInfo | undefined> {
    const dir = this.#dir(key);
    let file: BigIntStats;
    try {
      file = await stat(join(dir, DATA_FILE), { bigint: true });
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    const sidecar = await readSidecar(join(dir, SIDECAR_FILE));
    if (
      sidecar !== undefined &&
      sidecar.ino === String(file.ino) &&
      sidecar.size === String(file.size) &&
      sidecar.mtimeNs === String(file.mtimeNs)
    ) {
      return { key, size: Number(file.size), etag: sidecar.md5 };
    }
    return this.#rehash(key, dir);
  }

  /** Digests the content again (one full read) and rewrites the sidecar; see `Sidecar` for when. */
  async #rehash(key: string, dir: string): Promise<BlobInfo | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(join(dir, DATA_FILE), "r");
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    const hasher = new ContentHasher();
    let file: BigIntStats;
    try {
      // Stat and read the same descriptor, so the digests belong to the identity recorded with them.
      file = await handle.stat({ bigint: true });
      await pipeline(
        handle.createReadStream({ autoClose: false }),
        hasher,
        async (source: AsyncIterable<Buffer>) => {
          for await (const _chunk of source) {
            // the hasher has seen it; nothing else to do with the bytes
          }
        },
      );
    } finally {
      await handle.close();
    }
    const digests = hasher.digests();
    await this.#writeSidecar(dir, digests, file);
    return { key, size: digests.size, etag: digests.md5 };
  }

  /**
   * Best effort: the sidecar is a cache that is checked on every read, so failing to write it costs a
   * later rehash, not correctness, and must not fail a put whose content is already in place.
   */
  async #writeSidecar(dir: string, digests: ContentDigests, file: BigIntStats): Promise<void> {
    const sidecar: Sidecar = {
      md5: digests.md5,
      sha256: digests.sha256,
      size: String(file.size),
      ino: String(file.ino),
      mtimeNs: String(file.mtimeNs),
    };
    const temp = join(dir, `${TEMP_PREFIX}${randomUUID()}.json`);
    try {
      await writeFile(temp, JSON.stringify(sidecar), { flag: "wx" });
      await rename(temp, join(dir, SIDECAR_FILE));
    } catch {
      await unlink(temp).catch(() => {});
    }
  }

  /** Removes a key's content and sidecar and prunes emptied directories; true if there was content. */
  async #remove(key: string): Promise<boolean> {
    const dir = this.#dir(key);
    let existed = true;
    try {
      await unlink(join(dir, DATA_FILE));
    } catch (error) {
      if (!isMissing(error)) throw error;
      existed = false;
    }
    // Even without content: a put racing an earlier delete can leave a sidecar alone in the directory.
    await unlink(join(dir, SIDECAR_FILE)).catch((error: unknown) => {
      if (!isMissing(error)) throw error;
    });
    await sweepStaleTemps(dir, Date.now() - STALE_TEMP_MS);
    await this.#prune(dir);
    return existed;
  }

  /** Removes `dir` and its ancestors below the root while they are empty, so deleted jobs leave no trees. */
  async #prune(dir: string): Promise<void> {
    for (
      let current = dir;
      current !== this.#root && current.startsWith(this.#root);
      current = dirname(current)
    ) {
      try {
        await rmdir(current);
      } catch {
        return; // not empty (another key, an upload in progress) or already gone
      }
    }
  }

  /** Keys starting with `prefix`, sorted as S3 sorts them. */
  async #keys(prefix: string): Promise<string[]> {
    if (!prefixCanMatch(prefix)) return [];
    const keys: string[] = [];
    const visit = async (key: string): Promise<void> => {
      let entries: Dirent[];
      try {
        entries = await readdir(key === "" ? this.#root : this.#dir(key), { withFileTypes: true });
      } catch (error) {
        if (isMissing(error) || code(error) === "ENAMETOOLONG") return;
        throw error;
      }
      for (const entry of entries) {
        if (entry.name === DATA_FILE && entry.isFile() && key !== "" && key.startsWith(prefix))
          keys.push(key);
        if (!entry.isDirectory()) continue;
        const child = key === "" ? entry.name : `${key}/${entry.name}`;
        // Names the store did not write (say, a stray file an operator made) are not keys.
        if (!isValidKey(child)) continue;
        if (child.startsWith(prefix) || prefix.startsWith(`${child}/`)) await visit(child);
      }
    };
    // Start at the deepest directory the prefix fixes; prefixCanMatch checked it is a valid key.
    const slash = prefix.lastIndexOf("/");
    await visit(slash === -1 ? "" : prefix.slice(0, slash));
    return keys.sort(compareKeys);
  }
}

/** Removes temporary files in `dir` last modified before `before` (epoch ms); never throws. */
export async function sweepStaleTemps(dir: string, before: number): Promise<number> {
  let swept = 0;
  try {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.startsWith(TEMP_PREFIX)) continue;
      const path = join(dir, entry.name);
      const info = await stat(path).catch(() => undefined);
      if (
        info &&
        info.mtimeMs < before &&
        (await unlink(path).then(
          () => true,
          () => false,
        ))
      )
        swept++;
    }
  } catch {
    // The directory is gone or unreadable: nothing to sweep.
  }
  return swept;
}

/** Streams `body` through `hasher` into `handle`, fsyncs, closes, and returns the file's identity. */
async function writeDurably(handle: FileHandle, body: Readable, hasher: ContentHasher): Promise<BigIntStats> {
  try {
    await pipeline(body, hasher, async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) {
        for (let offset = 0; offset < chunk.length; ) {
          offset += (await handle.write(chunk, offset)).bytesWritten;
        }
      }
    });
    await handle.sync();
    return await handle.stat({ bigint: true });
  } finally {
    await handle.close();
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function readSidecar(path: string): Promise<Sidecar | undefined> {
  try {
    const value: unknown = JSON.parse(await readFile(path, "utf8"));
    return typeof value === "object" && value !== null && "md5" in value ? (value as Sidecar) : undefined;
  } catch {
    return undefined; // absent, or cut short by a crash: rehash
  }
}

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** ENOTDIR: a path component is a file, which for this layout also means absent. */
function isMissing(error: unknown): boolean {
  return code(error) === "ENOENT" || code(error) === "ENOTDIR";
}
