import { useEffect, useState } from "preact/hooks";
import { ApiError, api } from "./api.js";
import type { Session } from "./session.js";

/**
 * GETs `path` as the session whenever it (or `refresh`) changes, keeping the last answer and the refusal's reason;
 * an answer that arrives after the path changed (or the component left) is dropped.
 */
export function useApi<T>(
  session: Session,
  path: string,
  refresh?: unknown,
): { data: T | undefined; error: string | undefined } {
  const [data, setData] = useState<T | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    let current = true;
    api<T>(session, path)
      .then((answer) => {
        if (!current) return;
        setData(answer);
        setError(undefined);
      })
      .catch((e: unknown) => {
        if (current) setError(e instanceof ApiError ? e.message : "The server could not be reached");
      });
    return () => {
      current = false;
    };
  }, [session, path, refresh]);
  return { data, error };
}
