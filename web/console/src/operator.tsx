import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, api, type ReviewQueue, type TaskList } from "./api.js";
import { Alert } from "./format.js";
import type { Session } from "./session.js";
import { VerifyReportView } from "./verification.js";

type OperatorSession = Extract<Session, { kind: "operator" }>;

/**
 * The review queue: the longest-waiting job with what the checks found; approve (A) or reject with a
 * reason (R focuses it; Enter sends), and the next job comes at once.
 */
export function Review({ session }: { session: OperatorSession }) {
  const [queue, setQueue] = useState<ReviewQueue | undefined>();
  const [reason, setReason] = useState("");
  const [error, setError] = useState<string | undefined>();
  const [done, setDone] = useState<string | undefined>();
  const reasonField = useRef<HTMLTextAreaElement>(null);
  const load = useCallback(async () => {
    try {
      setQueue(await api<ReviewQueue>(session, "/reviews?limit=1"));
      setError(undefined);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : "The server could not be reached");
    }
  }, [session]);
  useEffect(() => {
    void load();
  }, [load]);
  const job = queue?.jobs[0];
  const decide = useCallback(
    async (decision: "approve" | "reject") => {
      if (job === undefined) return;
      if (decision === "reject" && reason.trim() === "") {
        setError("Say why the job is rejected: the user sees the reason");
        reasonField.current?.focus();
        return;
      }
      try {
        await api(session, `/reviews/${job.job_id}/${decision}`, {
          method: "POST",
          body: JSON.stringify(decision === "approve" ? {} : { reason: reason.trim() }),
        });
        setDone(`${decision === "approve" ? "Approved" : "Rejected"} ${job.name}`);
        setReason("");
        await load();
      } catch (e) {
        setError(e instanceof ApiError ? e.message : "The server could not be reached");
      }
    },
    [job, reason, session, load],
  );
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const typing = event.target instanceof HTMLTextAreaElement || event.target instanceof HTMLInputElement;
      if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === "a") void decide("approve");
      if (event.key === "r") {
        event.preventDefault();
        reasonField.current?.focus();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [decide]);
  return (
    <section aria-labelledby="review-title">
      <h2 id="review-title">Review queue</h2>
      <p class="hint">
        Keys: <kbd>A</kbd> approve, <kbd>R</kbd> write a reason to reject (<kbd>Enter</kbd> sends).
      </p>
      <p aria-live="polite">{done}</p>
      <Alert text={error} />
      {queue === undefined ? (
        <p>Loading…</p>
      ) : job === undefined ? (
        <p>No job waits for review.</p>
      ) : (
        <article class="review" aria-label={`Job ${job.name}`}>
          <h3>
            {job.name} <span class="id">{job.job_id}</span>
          </h3>
          <p>
            {queue.count} waiting · project <code>{job.project_id}</code> · since {job.update_time}
          </p>
          <ul class="files">
            {job.training_video_download_url !== undefined && (
              <li>
                <a href={job.training_video_download_url} target="_blank" rel="noopener">
                  Watch the training video
                </a>
              </li>
            )}
            {job.grant_file_download_url !== undefined && (
              <li>
                <a href={job.grant_file_download_url} target="_blank" rel="noopener">
                  {job.verify_report?.consent?.path === "letter"
                    ? "Read the consent letter"
                    : "Watch the consent video"}
                </a>
              </li>
            )}
          </ul>
          <VerifyReportView report={job.verify_report} />
          <div class="decide">
            <button type="button" onClick={() => void decide("approve")}>
              Approve
            </button>
            <label for="reason">Reason to reject</label>
            <textarea
              id="reason"
              ref={reasonField}
              rows={2}
              value={reason}
              onInput={(e) => setReason(e.currentTarget.value)}
              onKeyDown={(e) => {
                if (e.key === "Enter" && !e.shiftKey) {
                  e.preventDefault();
                  void decide("reject");
                }
              }}
            />
            <button type="button" class="reject" onClick={() => void decide("reject")}>
              Reject
            </button>
          </div>
        </article>
      )}
    </section>
  );
}

/** The pipeline's live tasks, refreshed every two seconds. */
export function Tasks({ session }: { session: OperatorSession }) {
  const [list, setList] = useState<TaskList | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    let current = true;
    const load = () =>
      api<TaskList>(session, "/tasks?limit=100")
        .then((result) => current && setList(result))
        .catch(
          (e: unknown) =>
            current && setError(e instanceof ApiError ? e.message : "The server could not be reached"),
        );
    void load();
    const timer = setInterval(load, 2000);
    return () => {
      current = false;
      clearInterval(timer);
    };
  }, [session]);
  return (
    <section aria-labelledby="tasks-title">
      <h2 id="tasks-title">Workers and tasks</h2>
      <Alert text={error} />
      {list === undefined ? (
        <p>Loading…</p>
      ) : (
        <div class="table-wrap">
          <table>
            <caption>{list.count === 0 ? "No live tasks" : `${list.count} live tasks`}</caption>
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">Stage</th>
                <th scope="col">State</th>
                <th scope="col">Progress</th>
                <th scope="col">Worker</th>
                <th scope="col">Lease until</th>
                <th scope="col">Retries</th>
              </tr>
            </thead>
            <tbody>
              {list.tasks.map((task) => (
                <tr key={task.task_id}>
                  <td class="id">{task.job_id}</td>
                  <td>{task.stage}</td>
                  <td>{task.state}</td>
                  <td>
                    <progress max={1} value={task.progress} aria-label={`${task.stage} progress`} />{" "}
                    {Math.round(task.progress * 100)} %
                  </td>
                  <td>{task.worker ?? "—"}</td>
                  <td>{task.lease_until ?? "—"}</td>
                  <td title={task.last_error}>{task.failures}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
