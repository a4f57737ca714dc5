import { Fragment } from "preact";
import { useState } from "preact/hooks";
import { Alert, formatBytes, UtcTime } from "./format.js";
import type { Session } from "./session.js";
import { useApi } from "./use-api.js";

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

type AssetFile = NonNullable<Asset["files"]>[number];

const ORDER = { MAIN: 0, SAMPLE: 1, COVER: 2, OTHER: 3 };
const LABELS = { MAIN: "Whole package", SAMPLE: "Preview clip", COVER: "Cover", OTHER: "" };

function FileLink({ file }: { file: AssetFile }) {
  const label = LABELS[file.asset_file_category];
  return (
    <li>
      <a href={file.download_url} download={file.file_name}>
        {label === "" ? file.file_name : `${label} (${file.file_name})`}
      </a>{" "}
      <span class="hint">{formatBytes(file.file_size)}</span>
    </li>
  );
}

/**
 * A trained avatar's preview clip in a player, and its files to download: the whole package first,
 * then the cover and each file of the package. Used on the asset's page and on its job's page.
 */
export function AssetFiles({ session, assetId }: { session: ProjectSession; assetId: string }) {
  const { data: asset, error } = useApi<Asset>(session, `${ASSETS}/${encodeURIComponent(assetId)}`);
  if (error !== undefined) return <p class="error">{error}</p>;
  if (asset === undefined) return <p>Loading the avatar…</p>;
  const files = asset.files ?? [];
  const preview = files.find((f) => f.asset_file_category === "SAMPLE");
  const others = files.filter((f) => f.asset_file_category === "OTHER");
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
      <ul class="files">
        {files
          .filter((f) => f.asset_file_category !== "OTHER")
          .sort((a, b) => ORDER[a.asset_file_category] - ORDER[b.asset_file_category])
          .map((file) => (
            <FileLink key={file.file_id} file={file} />
          ))}
      </ul>
      {others.length > 0 && (
        <details>
          <summary>The package's {others.length} files one by one</summary>
          <ul class="files">
            {others.map((file) => (
              <FileLink key={file.file_id} file={file} />
            ))}
          </ul>
        </details>
      )}
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
  const [open, setOpen] = useState<string | undefined>();
  const { data: page, error } = useApi<{ count: number; assets: readonly Asset[] }>(
    session,
    `${ASSETS}?offset=${offset}&limit=${PAGE}&sort_key=create_time&sort_dir=desc`,
  );
  return (
    <section aria-labelledby="assets-title">
      <h2 id="assets-title">Avatars</h2>
      <Alert text={error} />
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
                        <UtcTime value={asset.create_time} />
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
