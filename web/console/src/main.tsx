import { render } from "preact";
import { useState } from "preact/hooks";
import { Assets } from "./assets.js";
import { JobDetailView } from "./job-detail.js";
import { Jobs } from "./jobs.js";
import { NewJob } from "./new-job.js";
import { Review, Tasks } from "./operator.js";
import { loadSession, type Session, saveSession } from "./session.js";
import { SignIn } from "./sign-in.js";

function App() {
  const [session, setSession] = useState<Session | undefined>(loadSession);
  const [tab, setTab] = useState<"review" | "tasks">("review");
  const [projectTab, setProjectTab] = useState<"jobs" | "new" | "assets">("jobs");
  const [openJob, setOpenJob] = useState<string | undefined>();
  const showJob = (jobId: string) => {
    setProjectTab("jobs");
    setOpenJob(jobId);
  };
  const showTab = (next: typeof projectTab) => {
    setOpenJob(undefined);
    setProjectTab(next);
  };
  const signIn = (next: Session | undefined) => {
    saveSession(next);
    setSession(next);
  };
  if (session === undefined) return <SignIn onSignIn={signIn} />;
  return (
    <>
      <header class="bar">
        <h1>Doppel</h1>
        {session.kind === "project" && (
          <nav aria-label="Project">
            <button type="button" aria-pressed={projectTab === "jobs"} onClick={() => showTab("jobs")}>
              Jobs
            </button>
            <button type="button" aria-pressed={projectTab === "new"} onClick={() => showTab("new")}>
              New job
            </button>
            <button type="button" aria-pressed={projectTab === "assets"} onClick={() => showTab("assets")}>
              Avatars
            </button>
          </nav>
        )}
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
          ) : projectTab === "new" ? (
            <NewJob session={session} onCreated={showJob} />
          ) : projectTab === "assets" ? (
            <Assets session={session} onOpenJob={showJob} />
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
