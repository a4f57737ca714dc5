import { render } from "preact";
import { useState } from "preact/hooks";
import { JobDetailView } from "./job-detail.js";
import { Jobs } from "./jobs.js";
import { Review, Tasks } from "./operator.js";
import { loadSession, type Session, saveSession } from "./session.js";
import { SignIn } from "./sign-in.js";

function App() {
  const [session, setSession] = useState<Session | undefined>(loadSession);
  const [tab, setTab] = useState<"review" | "tasks">("review");
  const [openJob, setOpenJob] = useState<string | undefined>();
  const signIn = (next: Session | undefined) => {
    saveSession(next);
    setSession(next);
  };
  if (session === undefined) return <SignIn onSignIn={signIn} />;
  return (
    <>
      <header class="bar">
        <h1>Doppel</h1>
        {session.kind === "operator" && (
          <nav aria-label="Operator">
            <button type="button" aria-pressed={tab === "review"} onClick={() => setTab("review")}>
              Review
            </button>
            <button type="button" aria-pressed={tab === "tasks"} onClick={() => setTab("tasks")}>
              Workers
            </button>
          </nav>
        )}
        <span class="project">
          {session.kind === "project" ? (
            <>
              Project <code>{session.projectId}</code>
            </>
          ) : (
            "Operator"
          )}
        </span>
        <button type="button" onClick={() => signIn(undefined)}>
          Sign out
        </button>
      </header>
      <main>
        {session.kind === "project" ? (
          openJob !== undefined ? (
            <JobDetailView session={session} jobId={openJob} onBack={() => setOpenJob(undefined)} />
          ) : (
            <Jobs session={session} onUnauthorized={() => signIn(undefined)} onOpen={setOpenJob} />
          )
        ) : tab === "review" ? (
          <Review session={session} />
        ) : (
          <Tasks session={session} />
        )}
      </main>
    </>
  );
}

const root = document.getElementById("app");
if (root !== null) render(<App />, root);
