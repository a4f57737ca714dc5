import { useEffect, useState } from "preact/hooks";
import { iceStatusOf } from "../../../src/domain/ice-status.js";
import { ALL_STATES, isJobState } from "../../../src/domain/states.js";
import { ApiError, api, type JobPage } from "./api.js";
import { Alert, UtcTime } from "./format.js";
import { DEFAULT_FILTERS, type JobFilters, listQuery } from "./list-query.js";
import type { Session } from "./session.js";

export const JOBS = "/digital-human-training-manage/user/jobs";

/** The jobs list with MetaStudio's filters, sorting and paging; states in both vocabularies. */
export function Jobs({
  session,
  onUnauthorized,
  onOpen,
}: {
  session: Session;
  onUnauthorized: () => void;
  onOpen: (jobId: string) => void;
}) {
  const [filters, setFilters] = useState<JobFilters>(DEFAULT_FILTERS);
  const [page, setPage] = useState<JobPage | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    let current = true;
    api<JobPage>(session, `${JOBS}?${listQuery(filters)}`)
      .then((result) => {
        if (current) {
          setPage(result);
          setError(undefined);
        }
      })
      .catch((e: unknown) => {
        if (!current) return;
        if (e instanceof ApiError && e.status === 401) onUnauthorized();
        setError(e instanceof ApiError ? e.message : "The server could not be reached");
      });
    return () => {
      current = false;
    };
  }, [session, filters, onUnauthorized]);
  const set = (patch: Partial<JobFilters>) => setFilters({ ...filters, offset: 0, ...patch });
  const last = page === undefined ? 0 : Math.min(page.count, filters.offset + filters.limit);
  return (
    <section aria-labelledby="jobs-title">
      <h2 id="jobs-title">Training jobs</h2>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <StatePicker selected={filters.states} onChange={(states) => set({ states })} />
        <label>
          Name
          <input type="search" value={filters.name} onChange={(e) => set({ name: e.currentTarget.value })} />
        </label>
        <label>
          Batch
          <input
            type="search"
            value={filters.batchName}
            onChange={(e) => set({ batchName: e.currentTarget.value })}
          />
        </label>
        <label>
          Tag
          <input type="search" value={filters.tag} onChange={(e) => set({ tag: e.currentTarget.value })} />
        </label>
        <label>
          Created from
          <input
            type="date"
            value={filters.createdFrom}
            onChange={(e) => set({ createdFrom: e.currentTarget.value })}
          />
        </label>
        <label>
          to
          <input
            type="date"
            value={filters.createdTo}
            onChange={(e) => set({ createdTo: e.currentTarget.value })}
          />
        </label>
        <label>
          Order
          <select
            value={`${filters.sortKey} ${filters.sortDir}`}
            onChange={(e) => {
              const [sortKey, sortDir] = e.currentTarget.value.split(" ") as [
                JobFilters["sortKey"],
                JobFilters["sortDir"],
              ];
              set({ sortKey, sortDir });
            }}
          >
            <option value="create_time desc">Newest first</option>
            <option value="create_time asc">Oldest first</option>
            <option value="update_time desc">Recently changed</option>
          </select>
        </label>
      </form>
      <Alert text={error} />
      {page === undefined ? (
        <p aria-live="polite">Loading…</p>
      ) : (
        <>
          {/* A narrow screen scrolls the table, not the page. */}
          <div class="table-wrap">
            <table>
              <caption>
                {page.count === 0 ? "No jobs" : `Jobs ${filters.offset + 1}–${last} of ${page.count}`}
              </caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">State</th>
                  <th scope="col">ICE status</th>
                  <th scope="col">Batch</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {page.jobs.map((job) => (
                  <tr key={job.job_id}>
                    <td>
                      <a
                        href={`#job/${job.job_id}`}
                        onClick={(e) => {
                          e.preventDefault();
                          onOpen(job.job_id);
                        }}
                      >
                        {job.name}
                      </a>
                      <div class="id">{job.job_id}</div>
                    </td>
                    <td>
                      <span class={`state state-${stateClass(job.state)}`}>{job.state}</span>
                    </td>
                    <td>{isJobState(job.state) ? iceStatusOf(job.state) : "—"}</td>
                    <td>{job.batch_name ?? ""}</td>
                    <td>
                      <UtcTime value={job.create_time} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <nav class="pager" aria-label="Pages">
            <button
              type="button"
              disabled={filters.offset === 0}
              onClick={() => setFilters({ ...filters, offset: Math.max(0, filters.offset - filters.limit) })}
            >
              Previous
            </button>
            <button
              type="button"
              disabled={last >= page.count}
              onClick={() => setFilters({ ...filters, offset: filters.offset + filters.limit })}
            >
              Next
            </button>
          </nav>
        </>
      )}
    </section>
  );
}

/** Any number of states to filter by (the API takes a comma list), as checkboxes in a disclosure. */
function StatePicker({
  selected,
  onChange,
}: {
  selected: readonly string[];
  onChange: (states: string[]) => void;
}) {
  const toggle = (state: string, on: boolean) =>
    onChange(on ? [...selected, state] : selected.filter((s) => s !== state));
  return (
    <details class="states">
      <summary>
        States:{" "}
        {selected.length === 0 ? "any" : selected.length === 1 ? selected[0] : `${selected.length} chosen`}
      </summary>
      <fieldset>
        <legend>Show jobs in these states</legend>
        {ALL_STATES.map((state) => (
          <label key={state} class="check">
            <input
              type="checkbox"
              checked={selected.includes(state)}
              onChange={(e) => toggle(state, e.currentTarget.checked)}
            />
            {state}
          </label>
        ))}
        {selected.length > 0 && (
          <button type="button" onClick={() => onChange([])}>
            Clear
          </button>
        )}
      </fieldset>
    </details>
  );
}

function stateClass(state: string): string {
  if (state.endsWith("FAILED") || state === "JOB_REJECT") return "failed";
  if (state === "JOB_SUCCESS" || state === "JOB_FINISH") return "done";
  return "running";
}
