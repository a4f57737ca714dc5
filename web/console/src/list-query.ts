/** What the jobs page filters and pages by: MetaStudio's List2dModelTrainingJob query, as a form holds it. */
export interface JobFilters {
  readonly states: readonly string[];
  readonly name: string;
  readonly batchName: string;
  readonly tag: string;
  /** `yyyy-mm-dd` from a date input, or "". */
  readonly createdFrom: string;
  readonly createdTo: string;
  readonly sortKey: "create_time" | "update_time";
  readonly sortDir: "asc" | "desc";
  readonly offset: number;
  readonly limit: number;
}

export const DEFAULT_FILTERS: JobFilters = {
  states: [],
  name: "",
  batchName: "",
  tag: "",
  createdFrom: "",
  createdTo: "",
  sortKey: "create_time",
  sortDir: "desc",
  offset: 0,
  limit: 20,
};

/**
 * The list API's query for `filters`: empty fields left out, dates as RFC 3339 UTC (the day's start
 * for "from", the next day's start minus a millisecond for "to"), several states comma-separated.
 */
export function listQuery(filters: JobFilters): string {
  const params = new URLSearchParams();
  // A form can hold anything (NaN, Infinity): the API answers 400 to those, so they become the defaults.
  const whole = (value: number, fallback: number) => (Number.isFinite(value) ? Math.trunc(value) : fallback);
  params.set("offset", String(Math.max(0, whole(filters.offset, 0))));
  params.set("limit", String(Math.min(100, Math.max(1, whole(filters.limit, DEFAULT_FILTERS.limit)))));
  params.set("sort_key", filters.sortKey);
  params.set("sort_dir", filters.sortDir);
  if (filters.states.length > 0) params.set("state", filters.states.join(","));
  const text = (key: string, value: string) => {
    if (value.trim() !== "") params.set(key, value.trim());
  };
  text("name", filters.name);
  text("batch_name", filters.batchName);
  text("tag", filters.tag);
  const day = /^\d{4}-\d{2}-\d{2}$/;
  if (day.test(filters.createdFrom)) params.set("create_since", `${filters.createdFrom}T00:00:00Z`);
  if (day.test(filters.createdTo)) params.set("create_until", `${filters.createdTo}T23:59:59Z`);
  return params.toString();
}
