import { createParser } from "eventsource-parser";
import { useEffect, useState } from "preact/hooks";
import { iceStatusOf } from "../../../src/domain/ice-status.js";
import { isJobState } from "../../../src/domain/states.js";
import type { VerifyReportBody } from "../../../src/http/schemas/verify-report.js";
import { ApiError, api, apiPath, authHeaders } from "./api.js";
import { AssetFiles } from "./assets.js";
import { Alert, UtcTime } from "./format.js";
import { JOBS } from "./jobs.js";
import type { Session } from "./session.js";
import { useApi } from "./use-api.js";
import { VerifyReportView } from "./verification.js";

type ProjectSession = Extract<Session, { kind: "project" }>;

/** Show2dModelTrainingJob, the fields the page shows. */
interface JobDetail {
  readonly job_id: string;
  readonly name: string;
  readonly state: string;
  readonly message?: string;
  readonly asset_id?: string;
  readonly cover_download_url?: string;
  readonly training_video_download_url?: string;
  readonly action_video_download_url?: string;
  readonly grant_file_download_url?: string;
  readonly audio_file_download_url?: string;
  readonly operation_logs: ReadonlyArray<{
    readonly operate_time: string;
    readonly log_type: string;
    readonly log_description: string;
    readonly operate_user: string;
    readonly error_code?: string;
    readonly redo_reasons: readonly string[];
  }>;
}

/**
 * Follows the job's events (Server-Sent Events over fetch, since EventSource cannot send the token
 * header), calling `onEvent` for each; reconnects with the last event id after a cut.
 */
function followJob(session: ProjectSession, jobId: string, onEvent: () => void, signal: AbortSignal): void {
  let lastId = "";
  const connect = async () => {
    while (!signal.aborted) {
      try {
        const path = apiPath(session, `/doppel/events?job_id=${encodeURIComponent(jobId)}`);
        const headers = await authHeaders(session, "GET", path, {
          Accept: "text/event-stream",
          ...(lastId !== "" && { "Last-Event-ID": lastId }),
        });
        const res = await fetch(path, { headers, signal });
        if (!res.ok || res.body === null) return;
        const parser = createParser({
          onEvent: (event) => {
            if (event.id !== undefined) lastId = event.id;
            onEvent();
          },
        });
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parser.feed(value);
        }
      } catch {
        if (signal.aborted) return;
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  };
  void connect();
}

/** The job's verification report, read again whenever the job's history grows. */
function Verification({
  session,
  jobId,
  revision,
}: {
  session: ProjectSession;
  jobId: string;
  revision: number;
}) {
  const { data, error } = useApi<{ verify_report: VerifyReportBody | null }>(
    session,
    `/doppel/jobs/${encodeURIComponent(jobId)}/verification`,
    revision,
  );
  if (error !== undefined) return <p class="error">{error}</p>;
  return data === undefined ? <p>Loading…</p> : <VerifyReportView report={data.verify_report} />;
}

/** The files the job was given, each a download link (signed for 24 hours). */
function JobFiles({ job }: { job: JobDetail }) {
  const files = [
    ["Training video", job.training_video_download_url],
    ["Consent", job.grant_file_download_url],
    ["Action video", job.action_video_download_url],
    ["Audio", job.audio_file_download_url],
    ["Cover", job.cover_download_url],
  ].filter((f): f is [string, string] => f[1] !== undefined);
  if (files.length === 0) return null;
  return (
    <>
      <h3>Uploaded files</h3>
      <ul class="files">
        {files.map(([label, url]) => (
          <li key={label}>
            <a href={url} download>
              {label}
            </a>
          </li>
        ))}
      </ul>
    </>
  );
}

/** One job: its state in both vocabularies, why it stopped, its cover and its history, kept live. */
export function JobDetailView({
  session,
  jobId,
  onBack,
}: {
  session: ProjectSession;
  jobId: string;
  onBack: () => void;
}) {
  const [job, setJob] = useState<JobDetail | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    const stop = new AbortController();
    const load = () =>
      api<JobDetail>(session, `${JOBS}/${encodeURIComponent(jobId)}`)
        .then((detail) => {
          if (!stop.signal.aborted) setJob(detail);
        })
        .catch((e: unknown) =>
          setError(e instanceof ApiError ? e.message : "The server could not be reached"),
        );
    void load();
    followJob(session, jobId, () => void load(), stop.signal);
    return () => stop.abort();
  }, [session, jobId]);
  return (
    <section aria-labelledby="job-title">
      <button type="button" onClick={onBack}>
        Back to the jobs
      </button>
      <Alert text={error} />
      {job === undefined ? (
        <p>Loading…</p>
      ) : (
        <>
          <h2 id="job-title">{job.name}</h2>
          <p>
            <span class="id">{job.job_id}</span>
          </p>
          <p aria-live="polite">
            State <strong data-testid="job-state">{job.state}</strong>
            {isJobState(job.state) && <> (ICE: {iceStatusOf(job.state)})</>}
            {job.asset_id !== undefined && (
              <>
                {" "}
                · asset <code>{job.asset_id}</code>
              </>
            )}
          </p>
          {job.message !== undefined && <p class="error">{job.message}</p>}
          {job.cover_download_url !== undefined && (
            <img class="cover" src={job.cover_download_url} alt={`Cover of ${job.name}`} />
          )}
          {job.asset_id !== undefined && (
            <>
              <h3>Trained avatar</h3>
              <AssetFiles session={session} assetId={job.asset_id} />
            </>
          )}
          <JobFiles job={job} />
          <h3>Automatic checks</h3>
          <Verification session={session} jobId={job.job_id} revision={job.operation_logs.length} />
          <h3>History</h3>
          <ol class="timeline">
            {job.operation_logs.map((log) => (
              <li key={`${log.operate_time} ${log.log_type} ${log.log_description}`}>
                <UtcTime value={log.operate_time} /> <strong>{log.log_type}</strong> {log.log_description}
                {log.redo_reasons.length > 0 && (
                  <ul>
                    {log.redo_reasons.map((reason) => (
                      <li key={reason}>{reason}</li>
                    ))}
                  </ul>
                )}
              </li>
            ))}
          </ol>
        </>
      )}
    </section>
  );
}
