import type { FastifyReply, FastifyRequest } from "fastify";
import rangeParser from "range-parser";
import { DoppelError } from "../../domain/errors.js";
import type { Download } from "../../services/downloads.js";

/** A byte range to send, both ends inclusive. */
type Selected = { readonly start: number; readonly end: number } | "whole" | "unsatisfiable";

/**
 * Answers a GET or HEAD of a file (RFC 9110), for any route that serves one (job files by signed URL;
 * assets next). Register the route for both methods: a HEAD gets the GET's status and headers and no
 * body, and reads nothing.
 *
 * - Validators: a strong `ETag` (the quoted hex sha256 of the content) and `Last-Modified` when known.
 *   `If-None-Match` naming the ETag (weak comparison, `W/` ignored) or `*` gets 304; without it,
 *   `If-Modified-Since` at or after Last-Modified does.
 * - Ranges: `Accept-Ranges: bytes`. One range (`bytes=a-b`, `a-`, `-n`) gets 206 with `Content-Range`;
 *   a range that starts past the end (or `-0`, or `a-b` with b < a) gets 416 with a `Content-Range`
 *   that gives only the size (RFC 9110 §14.4) and the path's error envelope. Several ranges that do not merge into
 *   one get the whole file with 200, which RFC 9110 §14.2 allows (a server MAY ignore Range), rather
 *   than a multipart/byteranges body no download tool needs. A malformed Range, another unit, a Range
 *   on an empty file, and a Range whose `If-Range` is not the current ETag are ignored (200, whole
 *   file). An `If-Range` date is never taken as a match: a file may be replaced twice within a second
 *   (before its job is submitted), so a date is not a strong validator here.
 *
 * Parsing is range-parser's (Express's and `send`'s). A client that stops reading is cut after the
 * idle timeout by `limitConnections`, which watches every response's writes.
 */
export async function serveDownload(
  request: FastifyRequest,
  reply: FastifyReply,
  file: Download,
): Promise<FastifyReply> {
  const etag = file.etag ?? `"${file.sha256}"`;
  reply.header("ETag", etag).header("Accept-Ranges", "bytes");
  if (file.lastModified !== undefined) reply.header("Last-Modified", httpDate(file.lastModified));
  if (notModified(request, etag, file.lastModified)) return reply.status(304).send();

  const selected = selectRange(request, etag, file.size);
  if (selected === "unsatisfiable") {
    reply.header("Content-Range", `bytes */${file.size}`);
    throw new DoppelError(
      "RANGE_NOT_SATISFIABLE",
      `The Range ${String(request.headers.range).slice(0, 100)} asks for no byte of this ${file.size}-byte file`,
    );
  }
  const { start, end } = selected === "whole" ? { start: 0, end: file.size - 1 } : selected;
  reply.header("Content-Type", file.contentType).header("Content-Length", String(end - start + 1));
  if (file.sha256 !== undefined) reply.header("X-Content-Sha256", file.sha256);
  if (file.fileName !== undefined) {
    reply.header("Content-Disposition", `attachment; filename="${file.fileName}"`);
  }
  if (selected !== "whole") reply.status(206).header("Content-Range", `bytes ${start}-${end}/${file.size}`);
  if (request.method === "HEAD") return reply.send();
  return reply.send(await file.open(selected === "whole" ? undefined : selected));
}

/** Whether a conditional GET or HEAD is answered 304 (RFC 9110 §13.1.2, §13.1.3, §13.2.2). */
function notModified(request: FastifyRequest, etag: string, lastModified: number | undefined): boolean {
  const noneMatch = request.headers["if-none-match"];
  if (noneMatch !== undefined) {
    return noneMatch
      .split(",")
      .map((tag) => tag.trim())
      .some((tag) => tag === "*" || tag.replace(/^W\//, "") === etag);
  }
  const since = Date.parse(request.headers["if-modified-since"] ?? "");
  // Last-Modified is sent in whole seconds: compare in them.
  return (
    lastModified !== undefined && !Number.isNaN(since) && Math.floor(lastModified / 1000) * 1000 <= since
  );
}

/** What the Range header (and If-Range) select of a file of `size` bytes; "whole" when ignored. */
function selectRange(request: FastifyRequest, etag: string, size: number): Selected {
  const header = request.headers.range;
  if (header === undefined || size === 0) return "whole";
  const ifRange = request.headers["if-range"];
  // Strong comparison: only the exact current ETag lets the range through.
  if (ifRange !== undefined && (typeof ifRange !== "string" || ifRange.trim() !== etag)) return "whole";
  const parsed = rangeParser(size, clampSuffixes(header, size), { combine: true });
  if (parsed === -2) return "whole"; // malformed: ignored (RFC 9110 §14.2)
  if (parsed === -1) return "unsatisfiable";
  if (parsed.type.toLowerCase() !== "bytes") return "whole";
  const [only, ...more] = parsed;
  return only === undefined || more.length > 0 ? "whole" : only;
}

/**
 * range-parser 1.3 takes a suffix longer than the file (`bytes=-500` of 300 bytes) as unsatisfiable;
 * RFC 9110 §14.1.3 serves the whole file for it. Such suffixes are shortened to the file's size first.
 */
function clampSuffixes(header: string, size: number): string {
  return header.replace(
    /(=|,)(\s*)-(\d+)/g,
    (spec: string, separator: string, space: string, digits: string) =>
      Number(digits) > size ? `${separator}${space}-${size}` : spec,
  );
}

/** An IMF-fixdate, as HTTP dates are sent. */
function httpDate(epochMs: number): string {
  return new Date(epochMs).toUTCString();
}
