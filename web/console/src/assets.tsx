import { Fragment } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, api } from "./api.js";
import { formatBytes } from "./new-job.js";
import type { Session } from "./session.js";

type ProjectSession = Extract<Session, { kind: "project" }>;

const ASSETS = "/digital-assets";
const PAGE = 20;

/** MetaStudio's DigitalAssetInfo, the fields the console shows. */
interface Asset {
  readonly asset_id: string;
  readonly asset_name: string;
  readonly asset_state: string;
  readonly create_time: string;
  readonly job_id?: string;
  readonly files?: ReadonlyArray<{
    readonly file_id: string;
    readonly file_name: string;
    readonly file_size: number;
    readonly asset_file_category: "MAIN" | "COVER" | "SAMPLE" | "OTHER";
    readonly download_url: string;
    readonly file_sha256?: string;
  }>;
}

function useAsset(session: ProjectSession, assetId: string) {
  const [asset, setAsset] = useState<Asset | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    let current = true;
    api<Asset>(session, `${ASSETS}/${encodeURIComponent(assetId)}`)
      .then((a) => current && setAsset(a))
      .catch(
        (e: unknown) =>
          current && setError(e instanceof ApiError ? e.message : "The server could not be reached"),
      );
    return () => {
      current = false;
    };
  }, [session, assetId]);
  return { asset, error };
}

/**
 * A trained avatar's preview clip in a player, and its files to download: the whole package first,
 * then the cover and each file of the package. Used on the asset's page and on its job's page.
 */
export function AssetFiles({ session, assetId }: { session: ProjectSession; assetId: string }) {
  const { asset, error } = useAsset(session, assetId);
  if (error !== undefined) return <p class="error">{error}</p>;
  if (asset === undefined) return <p>Loading the avatar…</p>;
  const files = asset.files ?? [];
  const preview = files.find((f) => f.asset_file_category === "SAMPLE");
  const order = { MAIN: 0, SAMPLE: 1, COVER: 2, OTHER: 3 };
  return (
    <div class="asset-files">
      {preview !== undefined && (
        // biome-ignore lint/a11y/useMediaCaption: the preview is a silent-or-speech sample with no transcript to caption
        <video
          class="preview"
          controls
          preload="metadata"
          src={preview.download_url}
          aria-label={`Preview of ${asset.asset_name}`}
        />
      )}
      <h4>Files</h4>
      <ul class="files">
        {[...files]
          .sort((a, b) => order[a.asset_file_category] - order[b.asset_file_category])
          .map((file) => (
            <li key={file.file_id}>
              <a href={file.download_url} download={file.file_name}>
                {file.asset_file_category === "MAIN" ? `Whole package (${file.file_name})` : file.file_name}
              </a>{" "}
              <span class="hint">{formatBytes(file.file_size)}</span>
            </li>
          ))}
      </ul>
    </div>
  );
}

/** The project's trained avatars (MetaStudio's asset library), newest first, paged. */
export function Assets({
  session,
  onOpenJob,
}: {
  session: ProjectSession;
  onOpenJob: (jobId: string) => void;
}) {
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<{ count: number; assets: readonly Asset[] } | undefined>();
  const [open, setOpen] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    let current = true;
    api<{ count: number; assets: Asset[] }>(
      session,
      `${ASSETS}?offset=${offset}&limit=${PAGE}&sort_key=create_time&sort_dir=desc`,
    )
      .then((p) => current && setPage(p))
      .catch(
        (e: unknown) =>
          current && setError(e instanceof ApiError ? e.message : "The server could not be reached"),
      );
    return () => {
      current = false;
    };
  }, [session, offset]);
  return (
    <section aria-labelledby="assets-title">
      <h2 id="assets-title">Avatars</h2>
      {error !== undefined && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {page === undefined ? (
        <p>Loading…</p>
      ) : (
        <>
          <div class="table-wrap">
            <table>
              <caption>
                {page.count === 0
                  ? "No avatars yet: a job that reaches JOB_SUCCESS publishes one"
                  : `Avatars ${offset + 1}–${offset + page.assets.length} of ${page.count}`}
              </caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">State</th>
                  <th scope="col">Created</th>
                  <th scope="col">Job</th>
                </tr>
              </thead>
              <tbody>
                {page.assets.map((asset) => (
                  <Fragment key={asset.asset_id}>
                    <tr>
                      <td>
                        <button
                          type="button"
                          class="link"
                          aria-expanded={open === asset.asset_id}
                          onClick={() => setOpen(open === asset.asset_id ? undefined : asset.asset_id)}
                        >
                          {asset.asset_name}
                        </button>
                        <div class="id">{asset.asset_id}</div>
                      </td>
                      <td>{asset.asset_state}</td>
                      <td>
                        <time dateTime={asset.create_time}>
                          {asset.create_time.replace("T", " ").replace("Z", "")}
                        </time>
                      </td>
                      <td>
                        {asset.job_id !== undefined && (
                          <a
                            href={`#job/${asset.job_id}`}
                            onClick={(e) => {
                              e.preventDefault();
                              onOpenJob(asset.job_id as string);
                            }}
                          >
                            Open the job
                          </a>
                        )}
                      </td>
                    </tr>
                    {open === asset.asset_id && (
                      <tr>
                        <td colSpan={4}>
                          <AssetFiles session={session} assetId={asset.asset_id} />
                        </td>
                      </tr>
                    )}
                  </Fragment>
                ))}
              </tbody>
            </table>
          </div>
          <nav class="pager" aria-label="Avatar pages">
            <button
              type="button"
              disabled={offset === 0}
              onClick={() => setOffset(Math.max(0, offset - PAGE))}
            >
              Previous
            </button>
            <button
              type="button"
              disabled={offset + PAGE >= page.count}
              onClick={() => setOffset(offset + PAGE)}
            >
              Next
            </button>
          </nav>
        </>
      )}
    </section>
  );
}
