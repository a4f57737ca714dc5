import { Readable } from "node:stream";
import { fileTypeFromBuffer } from "file-type";

/** Bytes `file-type` needs to recognise every format it knows. */
const SAMPLE_BYTES = 4100;

/**
 * Reads the first bytes of `source` to tell what it really is (magic bytes; the client's
 * Content-Type is not trusted), and returns a stream that still yields every byte. Errors of the
 * source (a cut connection) surface in the returned stream.
 */
export async function sniff(source: Readable): Promise<{ mime: string | undefined; stream: Readable }> {
  const chunks = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let size = 0;
  let ended = false;
  while (size < SAMPLE_BYTES) {
    const next = await chunks.next();
    if (next.done) {
      ended = true;
      break;
    }
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value as Uint8Array);
    head.push(chunk);
    size += chunk.length;
  }
  const sample = Buffer.concat(head);
  const mime = (await fileTypeFromBuffer(sample))?.mime;
  async function* everything() {
    if (sample.length > 0) yield sample;
    if (ended) return;
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value as Buffer;
  }
  return { mime, stream: Readable.from(everything(), { objectMode: false }) };
}
