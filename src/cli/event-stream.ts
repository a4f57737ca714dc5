import { createParser, type EventSourceMessage } from "eventsource-parser";
import { ApiError, apiErrorOf } from "./api-client.js";

/**
 * A Server-Sent Events client for Doppel's event stream (`GET …/doppel/events` with
 * `Accept: text/event-stream`), over global fetch with eventsource-parser. Unlike a browser's
 * EventSource it signs every connection afresh (an SDK-HMAC-SHA256 signature is dated) and tells a
 * refusal (4xx) from a broken connection: the first ends the stream with the server's error, the second
 * is reconnected with `Last-Event-ID`, so no event is lost or repeated.
 */

/** What the stream hands its reader: a connection opened, or the events of one chunk of it. */
export type EventStreamItem =
  | {
      readonly kind: "open";
      /** True when this connection resumes after a lost one. */
      readonly reconnected: boolean;
      /** The Last-Event-ID it was opened with, if any. */
      readonly lastEventId: string | undefined;
    }
  | { readonly kind: "events"; readonly events: readonly EventSourceMessage[] };

export interface EventStreamOptions {
  /** Resume after this event id (sent as Last-Event-ID on the first connection too). */
  readonly lastEventId?: string;
  /** Ends the stream (the generator throws the signal's reason). */
  readonly signal?: AbortSignal;
  /** No byte at all (not even a heartbeat comment) for this long: the connection is dead, reopen it. */
  readonly idleTimeoutMs?: number;
  /** Wait before reconnecting, until the server says otherwise with `retry:`. */
  readonly retryMs?: number;
  /** The longest wait between reconnections (each failure in a row doubles the wait). */
  readonly maxRetryMs?: number;
  /** Failed connections in a row after which the stream gives up, throwing the last error. */
  readonly maxFailures?: number;
  /** Told before each reconnection: why, how long until it, and from which event. */
  readonly onReconnect?: (reason: Error, delayMs: number, lastEventId: string | undefined) => void;
  /** The fetch to use (tests); global fetch by default. */
  readonly fetch?: typeof fetch;
}

/** A connection that lived this long, or brought an event, resets the count of failures in a row. */
const HEALTHY_MS = 10_000;

/**
 * The events at `url`, as an async generator that reconnects by itself and never ends on its own:
 * stop reading it (`break`, `return`) to close the connection. It throws an ApiError when the server
 * refuses the stream (a 4xx, or a 200 that is not an event stream), and the last error after
 * `maxFailures` failed connections in a row. `headersOf` gives each connection's request headers.
 */
export async function* eventStream(
  url: URL,
  headersOf: (lastEventId: string | undefined) => Record<string, string>,
  options: EventStreamOptions = {},
): AsyncGenerator<EventStreamItem, never, undefined> {
  const fetchImpl = options.fetch ?? fetch;
  const idleTimeoutMs = options.idleTimeoutMs ?? 45_000;
  const maxRetryMs = options.maxRetryMs ?? 30_000;
  const maxFailures = options.maxFailures ?? 8;
  let retryMs = options.retryMs ?? 2000;
  let lastEventId = options.lastEventId;
  let failures = 0;
  let reconnected = false;
  for (;;) {
    options.signal?.throwIfAborted();
    const connection = new AbortController();
    const stop = () => connection.abort(options.signal?.reason);
    options.signal?.addEventListener("abort", stop);
    let idle: NodeJS.Timeout | undefined;
    const watch = () => {
      idle = setTimeout(
        () => connection.abort(new Error(`no data for ${Math.round(idleTimeoutMs / 1000)} s`)),
        idleTimeoutMs,
      );
    };
    const unwatch = () => clearTimeout(idle);
    let openedAt: number | undefined;
    let healthy = false;
    let reason: Error;
    try {
      watch();
      const response = await fetchImpl(url, { headers: headersOf(lastEventId), signal: connection.signal });
      unwatch();
      if (!response.ok) {
        const text = await response.text();
        const refusal = apiErrorOf(response.status, text, `GET ${url.pathname}`);
        if (!retryable(response.status)) throw refusal;
        throw new Retry(refusal);
      }
      const type = response.headers.get("content-type") ?? "";
      if (!type.startsWith("text/event-stream") || response.body === null) {
        await response.body?.cancel();
        throw apiErrorOf(
          response.status,
          `not an event stream (Content-Type ${type || "none"})`,
          `GET ${url.pathname}`,
        );
      }
      openedAt = Date.now();
      const pending: EventSourceMessage[] = [];
      const parser = createParser({
        onEvent: (event) => pending.push(event),
        onRetry: (ms) => {
          retryMs = ms;
        },
      });
      const decoder = new TextDecoder();
      const reader = response.body.getReader();
      yield { kind: "open", reconnected, lastEventId };
      for (;;) {
        watch();
        const { done, value } = await reader.read();
        unwatch();
        if (done) {
          parser.feed(decoder.decode());
          throw new Retry(new Error("the server ended the stream"));
        }
        parser.feed(decoder.decode(value, { stream: true }));
        if (pending.length > 0) {
          const events = pending.splice(0);
          for (const event of events) if (event.id !== undefined) lastEventId = event.id;
          healthy = true;
          yield { kind: "events", events };
        }
      }
    } catch (error) {
      unwatch();
      if (options.signal?.aborted) throw options.signal.reason;
      if (error instanceof Retry) reason = error.reason;
      else if (connection.signal.aborted && connection.signal.reason instanceof Error) {
        reason = connection.signal.reason;
      } else if (error instanceof ApiError) throw error;
      else reason = error instanceof Error ? error : new Error(String(error));
    } finally {
      unwatch();
      options.signal?.removeEventListener("abort", stop);
      // Closes the connection: after an error, and when the reader stopped reading (return()).
      connection.abort();
    }
    if (healthy || (openedAt !== undefined && Date.now() - openedAt >= HEALTHY_MS)) failures = 0;
    failures++;
    if (failures >= maxFailures) throw reason;
    const delay = Math.min(maxRetryMs, retryMs * 2 ** (failures - 1));
    options.onReconnect?.(reason, delay, lastEventId);
    await sleep(delay, options.signal);
    reconnected = true;
  }
}

/** A failure worth another connection: the server's trouble, or the way there. */
class Retry extends Error {
  constructor(readonly reason: Error) {
    super(reason.message);
  }
}

/** 5xx, 429 and 408 are worth retrying; any other refusal is the answer. */
function retryable(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", aborted);
      resolve();
    };
    const aborted = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", aborted, { once: true });
  });
}
