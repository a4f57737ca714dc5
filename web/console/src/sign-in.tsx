import { useState } from "preact/hooks";
import { ApiError, api } from "./api.js";
import { Alert } from "./format.js";
import { JOBS } from "./jobs.js";
import type { Session } from "./session.js";

/**
 * Sign-in with a project id and token (the user view) or an operator token (review and workers),
 * checked by one call before the console opens.
 */
export function SignIn({ onSignIn }: { onSignIn: (session: Session) => void }) {
  const [kind, setKind] = useState<"project" | "key" | "operator">("project");
  const [projectId, setProjectId] = useState("");
  const [token, setToken] = useState("");
  const [accessKeyId, setAccessKeyId] = useState("");
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    const session: Session =
      kind === "project"
        ? { kind, projectId: projectId.trim(), token: token.trim() }
        : kind === "key"
          ? {
              kind: "project",
              projectId: projectId.trim(),
              accessKey: { accessKeyId: accessKeyId.trim(), secretAccessKey: token.trim() },
            }
          : { kind, token: token.trim() };
    try {
      await api(session, session.kind === "project" ? `${JOBS}?limit=1` : "/reviews?limit=1");
      onSignIn(session);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : "The server could not be reached");
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in">
      <h1>Doppel console</h1>
      <form onSubmit={submit}>
        <fieldset>
          <legend>Sign in as</legend>
          <label class="choice">
            <input
              type="radio"
              name="kind"
              checked={kind === "project"}
              onChange={() => setKind("project")}
            />
            A project, with a token
          </label>
          <label class="choice">
            <input type="radio" name="kind" checked={kind === "key"} onChange={() => setKind("key")} />A
            project, with an access key
          </label>
          <label class="choice">
            <input
              type="radio"
              name="kind"
              checked={kind === "operator"}
              onChange={() => setKind("operator")}
            />
            An operator (review, workers)
          </label>
        </fieldset>
        <p id="sign-in-help">
          {kind === "project" ? (
            <>
              A project id and a token from <code>doppel token create --project ID</code>.
            </>
          ) : kind === "key" ? (
            <>
              A project id and an access key from <code>doppel key create --project ID</code>; the secret key
              stays in this tab and signs each request, as the cloud SDKs do.
            </>
          ) : (
            <>
              An operator token from <code>doppel admin-token create --name WHO</code>.
            </>
          )}
        </p>
        {kind !== "operator" && (
          <>
            <label for="project">Project id</label>
            <input
              id="project"
              required
              autocomplete="username"
              value={projectId}
              onInput={(e) => setProjectId(e.currentTarget.value)}
            />
          </>
        )}
        {kind === "key" && (
          <>
            <label for="access-key">Access key id</label>
            <input
              id="access-key"
              required
              autocomplete="off"
              value={accessKeyId}
              onInput={(e) => setAccessKeyId(e.currentTarget.value)}
            />
          </>
        )}
        <label for="token">
          {kind === "project" ? "Token" : kind === "key" ? "Secret key" : "Operator token"}
        </label>
        <input
          id="token"
          type="password"
          required
          autocomplete="current-password"
          aria-describedby="sign-in-help"
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
        />
        <Alert text={error} />
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
