import { useEffect, useState } from "preact/hooks";
import { partCountFor } from "../../../src/domain/parts.js";
import { ApiError, api, putToSignedUrl } from "./api.js";
import { Alert, formatBytes } from "./format.js";
import { JOBS } from "./jobs.js";
import type { Session } from "./session.js";
import {
  expiryOf,
  forgetUpload,
  identityOf,
  loadUpload,
  PART_BYTES,
  partsToSend,
  type SavedUpload,
  sameFile,
  saveUpload,
} from "./upload.js";

type ProjectSession = Extract<Session, { kind: "project" }>;

interface CreatedJob {
  readonly job_id: string;
  readonly training_video_upload_url: readonly string[];
  readonly grant_file_upload_url: string;
}

/** Parts sent at once, as the command line does (see src/cli/multipart-uploader.ts). */
const STREAMS = 2;

/** A drop zone that is also a file picker (a label around a file input: reachable by keyboard). */
function DropZone({
  label,
  hint,
  accept,
  file,
  onFile,
}: {
  label: string;
  hint: string;
  accept: string;
  file: File | undefined;
  onFile: (file: File | undefined) => void;
}) {
  const [over, setOver] = useState(false);
  return (
    <label
      class={`drop${over ? " over" : ""}`}
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        setOver(false);
        onFile(e.dataTransfer?.files[0]);
      }}
    >
      <span class="drop-label">{label}</span>
      <span class="hint">{file === undefined ? hint : `${file.name} (${formatBytes(file.size)})`}</span>
      <input type="file" accept={accept} onChange={(e) => onFile(e.currentTarget.files?.[0])} />
    </label>
  );
}

/**
 * A new job from the browser: drop the training video and the consent (video or letter), and Doppel's
 * MetaStudio API is called as any client would — create, PUT the parts straight to their signed URLs,
 * confirm, submit. The job and its URLs are kept in the tab, so after a reload picking the same file
 * again sends only the parts the server does not have yet.
 */
export function NewJob({
  session,
  onCreated,
}: {
  session: ProjectSession;
  onCreated: (jobId: string) => void;
}) {
  const [saved, setSaved] = useState<SavedUpload | undefined>(() =>
    loadUpload(sessionStorage, session.projectId, Date.now()),
  );
  const [name, setName] = useState(saved?.jobName ?? "");
  const [video, setVideo] = useState<File | undefined>();
  const [consent, setConsent] = useState<File | undefined>();
  const [busy, setBusy] = useState(false);
  const [step, setStep] = useState("");
  const [sent, setSent] = useState(0);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    if (saved === undefined) forgetUpload(sessionStorage);
    else saveUpload(sessionStorage, saved);
  }, [saved]);

  const start = async () => {
    if (video === undefined) return setError("Choose the training video first");
    if (!video.type.startsWith("video/") && video.type !== "") {
      return setError(`${video.name} is not a video (${video.type}); choose an MP4, MOV or WebM file`);
    }
    setBusy(true);
    setError(undefined);
    try {
      const upload =
        saved ?? (await createJob(name.trim() === "" ? video.name : name.trim(), video, consent));
      const resuming = sameFile(upload.video, identityOf(video));
      // A different file than the saved job was made for is sent whole to the same job.
      let current: SavedUpload = { ...upload, video: identityOf(video) };
      setSaved(current);
      const parts = current.videoUrls.length;
      const listed = await api<{ multipart_data?: ReadonlyArray<{ part_number: number }> }>(
        session,
        `${JOBS}/${current.jobId}/command`,
        { method: "POST", body: JSON.stringify({ command: "GET_MULTIPART_UPLOADED" }) },
      );
      const present = new Set((listed.multipart_data ?? []).map((p) => p.part_number));
      const todo = partsToSend(video.size, parts, present, resuming);
      const consentTodo =
        consent !== undefined && !(current.consentUploaded && sameFile(current.consent, consent));
      const bytesTodo =
        todo.reduce((n, r) => n + r.end - r.start, 0) + (consentTodo ? (consent?.size ?? 0) : 0);
      setTotal(bytesTodo);
      setSent(0);
      const progress = new Map<string, number>();
      const report = (key: string, bytes: number) => {
        progress.set(key, bytes);
        setSent([...progress.values()].reduce((a, b) => a + b, 0));
      };
      if (consentTodo && consent !== undefined) {
        setStep(`Uploading the consent (${consent.name})`);
        await putToSignedUrl(current.grantUrl, consent, (n) => report("consent", n)).catch(
          refusal(`The consent file ${consent.name} was refused`),
        );
        current = { ...current, consent: identityOf(consent), consentUploaded: true };
        setSaved(current);
      }
      setStep(
        `Uploading ${video.name}: ${todo.length} of ${parts} part${parts > 1 ? "s" : ""}${resuming && todo.length < parts ? " (resumed)" : ""}`,
      );
      let next = 0;
      const stream = async () => {
        for (let range = todo[next++]; range !== undefined; range = todo[next++]) {
          const url = current.videoUrls[range.partNumber - 1] as string;
          await putToSignedUrl(url, video.slice(range.start, range.end), (n) =>
            report(`part ${range.partNumber}`, n),
          ).catch(refusal(`The training video ${video.name} was refused`));
        }
      };
      await Promise.all(Array.from({ length: STREAMS }, stream));
      setStep("Checking the parts and submitting");
      for (const command of ["CONFIRM_MULTIPART_UPLOADED", "SUBMITVERIFYING"]) {
        await api(session, `${JOBS}/${current.jobId}/command`, {
          method: "POST",
          body: JSON.stringify({ command }),
        });
      }
      setSaved(undefined);
      onCreated(current.jobId);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setStep("");
    } finally {
      setBusy(false);
    }
  };

  const createJob = async (jobName: string, file: File, grant: File | undefined): Promise<SavedUpload> => {
    setStep("Creating the job");
    const parts = partCountFor(file.size, PART_BYTES);
    const created = await api<CreatedJob>(session, JOBS, {
      method: "POST",
      body: JSON.stringify({ name: jobName, video_multipart_count: parts }),
    });
    return {
      projectId: session.projectId,
      jobId: created.job_id,
      jobName,
      video: identityOf(file),
      ...(grant !== undefined && { consent: identityOf(grant) }),
      videoUrls: created.training_video_upload_url,
      grantUrl: created.grant_file_upload_url,
      expiresAt: expiryOf(created.grant_file_upload_url, Date.now() + 3600_000),
      consentUploaded: false,
    };
  };

  const percent = total === 0 ? 0 : Math.round((100 * sent) / total);
  return (
    <section aria-labelledby="new-title">
      <h2 id="new-title">New training job</h2>
      {saved !== undefined && !busy && (
        <div class="notice" role="status">
          <p>
            The upload of <strong>{saved.video.name}</strong> to job <code>{saved.jobId}</code> did not
            finish. Choose the same file again to send only what is missing.
          </p>
          <button type="button" onClick={() => setSaved(undefined)}>
            Start a new job instead
          </button>
        </div>
      )}
      <form
        class="new-job"
        onSubmit={(e) => {
          e.preventDefault();
          void start();
        }}
      >
        <label>
          Name
          <input
            value={name}
            maxLength={64}
            disabled={saved !== undefined}
            onInput={(e) => setName(e.currentTarget.value)}
            placeholder="The person's name"
          />
        </label>
        <DropZone
          label="Training video"
          hint="Drop an MP4, MOV or WebM of the person speaking, or click to choose"
          accept="video/mp4,video/quicktime,video/webm"
          file={video}
          onFile={setVideo}
        />
        <DropZone
          label="Consent"
          hint="Drop a video of the person giving consent, or a signed letter (PDF, JPEG, PNG)"
          accept="video/mp4,video/quicktime,video/webm,application/pdf,image/jpeg,image/png"
          file={consent}
          onFile={setConsent}
        />
        <button type="submit" disabled={busy}>
          {saved === undefined ? "Upload and submit" : "Resume upload and submit"}
        </button>
      </form>
      {step !== "" && (
        <div class="upload-progress">
          <label for="upload-bar">{step}</label>
          <progress id="upload-bar" max={100} value={percent}>
            {percent}%
          </progress>
          <span aria-live="polite">
            {percent}% · {formatBytes(sent)} of {formatBytes(total)}
          </span>
        </div>
      )}
      <Alert text={error} />
    </section>
  );
}

/** Turns a refused upload into an error that says which file and why. */
function refusal(what: string) {
  return (e: unknown): never => {
    if (e instanceof ApiError) throw new Error(`${what}: ${e.message}`);
    throw e;
  };
}
