import type { VerifyReportBody } from "../../../src/http/schemas/verify-report.js";

type Frame = NonNullable<VerifyReportBody["frames"]>[number];
type Box = Frame["faces"][number]["box"];

/**
 * An image with face boxes drawn over it, as SVG: the boxes are in the image's own pixels, so the
 * drawing scales with the image and needs no inline style (which the page's policy forbids). With
 * `crop`, only that box of the image (and a margin around it) is shown: a face beside another.
 */
function Picture({
  url,
  width,
  height,
  boxes,
  label,
  crop,
}: {
  url: string;
  width: number;
  height: number;
  boxes: readonly Box[];
  label: string;
  crop?: Box;
}) {
  const view =
    crop === undefined
      ? `0 0 ${width} ${height}`
      : (() => {
          const margin = Math.round(Math.max(crop.width, crop.height) * 0.25);
          const side = Math.max(crop.width, crop.height) + 2 * margin;
          return `${crop.x + crop.width / 2 - side / 2} ${crop.y + crop.height / 2 - side / 2} ${side} ${side}`;
        })();
  return (
    <svg class={crop === undefined ? "frame" : "face"} viewBox={view} role="img" aria-label={label}>
      <image href={url} width={width} height={height} />
      {boxes.map((box) => (
        <rect
          key={`${box.x} ${box.y}`}
          class="face-box"
          x={box.x}
          y={box.y}
          width={box.width}
          height={box.height}
        />
      ))}
    </svg>
  );
}

const facesText = (n: number) => (n === 0 ? "no face" : n === 1 ? "one face" : `${n} faces`);

/**
 * What the automatic checks found, in words and pictures: the training video's sampled frames with the
 * faces found on them, and the consent video's face beside the training video's with their distance.
 */
export function VerifyReportView({ report }: { report: VerifyReportBody | null }) {
  if (report === null) return <p>No report: the job has not been checked automatically.</p>;
  const video = report.probe.video;
  const consent = report.consent;
  const frames = report.frames ?? [];
  const trainingFace = consent?.trainingFrame === undefined ? undefined : frames[consent.trainingFrame];
  return (
    <div class="verify">
      <dl class="report">
        <dt>Policy</dt>
        <dd>{report.policy}</dd>
        <dt>Video</dt>
        <dd>
          {video === null ? "no video stream" : `${video.width}×${video.height}, ${video.fps} fps`},{" "}
          {report.probe.durationSeconds.toFixed(1)} s
        </dd>
        <dt>Faces</dt>
        <dd>
          one face in {report.faces.singleFace} of {report.faces.samples} sampled frames
        </dd>
        <dt>Consent</dt>
        <dd>
          {consent === undefined
            ? "not checked"
            : consent.path === "video"
              ? `a video, face distance to the training video ${consent.distance?.toFixed(2) ?? "not measured"} (lower is more alike)`
              : consent.path === "letter"
                ? "a letter: read it before approving"
                : "none"}
        </dd>
        <dt>Problems</dt>
        <dd>{report.problems.length === 0 ? "none found" : report.problems.join("; ")}</dd>
      </dl>
      {consent?.frame !== undefined && trainingFace?.faces[0] !== undefined && (
        <figure class="faces">
          <Picture
            url={consent.frame.url}
            width={consent.frame.width}
            height={consent.frame.height}
            boxes={[]}
            crop={consent.frame.box}
            label="The face in the consent video"
          />
          <Picture
            url={trainingFace.url}
            width={trainingFace.width}
            height={trainingFace.height}
            boxes={[]}
            crop={trainingFace.faces[0].box}
            label="The face in the training video"
          />
          <figcaption>
            Consent (left) and training video (right): face distance{" "}
            <strong>{consent.distance?.toFixed(2) ?? "not measured"}</strong>
          </figcaption>
        </figure>
      )}
      {frames.length > 0 && (
        <figure>
          <div class="frames">
            {frames.map((frame) => (
              <Picture
                key={frame.name}
                url={frame.url}
                width={frame.width}
                height={frame.height}
                boxes={frame.faces.map((f) => f.box)}
                label={`Frame at ${frame.timeSeconds.toFixed(1)} s: ${facesText(frame.faces.length)}`}
              />
            ))}
          </div>
          <figcaption>The sampled frames of the training video, each face found framed</figcaption>
        </figure>
      )}
    </div>
  );
}
