import { METASTUDIO_ERRORS } from "../http/dialects/metastudio/errors.js";
import { ApiError, type DoppelClient } from "./api-client.js";
import type { JobDetail } from "./api-types.js";
import { type EventStreamOptions, eventStream } from "./event-stream.js";
import { historyLines } from "./job-output.js";

/** States a waiting `jobs show --wait` stops at: the job needs nobody but its owner any more. */
const SETTLED =
  /FAILED$|^(JOB_SUCCESS|WAIT_USER_CONFIRM|JOB_FINISH|JOB_REJECT|JOB_PENDING|WAIT_FILE_UPLOAD)$/;

/** How often the fallback for a server without the event stream asks for the job. */
const POLL_MS = 2000;

export interface FollowOptions {
  /** Settings of the event stream (tests shorten its waits). */
  readonly stream?: Omit<EventStreamOptions, "lastEventId" | "onReconnect">;
}

/**
 * Follows a job until its state settles, printing each new history entry to stderr. It listens to the
 * job's live events (`GET …/doppel/events?job_id=…` as Server-Sent Events) and reads the job again
 * whenever some arrive, so each step shows as it happens; a lost connection is reopened from the last
 * event (Last-Event-ID). Only a server that has no event stream (404) is asked every 2 seconds instead.
 */
export async function followJob(
  client: DoppelClient,
  jobId: string,
  options: FollowOptions = {},
): Promise<JobDetail> {
  const history = historyPrinter();
  const job = await client.showJob(jobId);
  history.print(job);
  if (SETTLED.test(job.state)) return job;
  try {
    return await followStream(client, jobId, history, options);
  } catch (error) {
    if (!streamMissing(error)) throw error;
    process.stderr.write(`(${client.endpoint} has no event stream; asking for the job every 2 s)\n`);
  }
  return pollJob(client, jobId, history);
}

/**
 * Reads the job again after each batch of its events (a batch is what one read of the connection
 * brought, so a burst costs one read) and after a reconnection, until it settles. The stream starts
 * at the job's first event: whatever happened since the job was read above is in it.
 */
async function followStream(
  client: DoppelClient,
  jobId: string,
  history: HistoryPrinter,
  options: FollowOptions,
): Promise<JobDetail> {
  const { url, headers } = client.eventStreamRequest({ jobId });
  const stream = eventStream(url, headers, {
    ...options.stream,
    onReconnect: (reason, delayMs, lastEventId) => {
      process.stderr.write(
        `(event stream interrupted: ${reason.message}; reconnecting in ${(delayMs / 1000).toFixed(1)} s${lastEventId === undefined ? "" : ` after event ${lastEventId}`})\n`,
      );
    },
  });
  for await (const item of stream) {
    if (item.kind === "open" && !item.reconnected) continue;
    if (item.kind === "events" && item.events.some((event) => event.event === "job.deleted")) {
      throw new Error(`job ${jobId} was deleted while it was followed`);
    }
    const job = await client.showJob(jobId);
    history.print(job);
    // Leaving the loop closes the connection.
    if (SETTLED.test(job.state)) return job;
  }
  throw new Error("the event stream ended"); // not reached: the stream reconnects or throws
}

/** A 404 of the stream that is not about the job: a server without the events API. */
function streamMissing(error: unknown): boolean {
  return (
    error instanceof ApiError && error.status === 404 && error.code !== METASTUDIO_ERRORS.JOB_NOT_FOUND.code
  );
}

/** Asks for the job every 2 s until its state settles. */
async function pollJob(client: DoppelClient, jobId: string, history: HistoryPrinter): Promise<JobDetail> {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    const job = await client.showJob(jobId);
    history.print(job);
    if (SETTLED.test(job.state)) return job;
  }
}

interface HistoryPrinter {
  /** Prints the job's history entries not printed yet. */
  print(job: JobDetail): void;
}

function historyPrinter(): HistoryPrinter {
  let printed = 0;
  return {
    print(job) {
      for (const log of job.operation_logs.slice(printed)) {
        for (const line of historyLines(log)) process.stderr.write(`${line}\n`);
      }
      printed = Math.max(printed, job.operation_logs.length);
    },
  };
}
