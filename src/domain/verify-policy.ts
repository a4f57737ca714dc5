/**
 * Rules a training video must meet before a person reviews it. `default` follows what both clouds
 * document (1080p or 4K, landscape or portrait, about 3–10 minutes, 25–60 fps, with sound); `dev`
 * takes the short clips a developer makes on a laptop. Operators can name a JSON file of their own
 * (`--verify-policy ./policy.json`): its fields override those of `extends` (default: `default`).
 */
export interface VerifyPolicy {
  readonly name: string;
  /** ffprobe demuxer names accepted (any one of a file's comma-separated names matches). */
  readonly containers: readonly string[];
  readonly videoCodecs: readonly string[];
  /** Accepted frame sizes as [long side, short side]; empty: any size with a short side ≥ minShortSide. */
  readonly resolutions: ReadonlyArray<readonly [number, number]>;
  readonly minShortSide: number;
  readonly minDurationSeconds: number;
  readonly maxDurationSeconds: number;
  readonly minFps: number;
  readonly maxFps: number;
  readonly requireAudio: boolean;
  /** Frames sampled across the video for the face checks. */
  readonly faceSamples: number;
  /** Share of samples that must show exactly one face. */
  readonly minSingleFaceShare: number;
  /** The face's height as a share of the frame's height, at least (median over samples). */
  readonly minFaceHeightShare: number;
  /** Head turn beyond which a face does not count as roughly frontal. */
  readonly maxYawDegrees: number;
  /** Share of single-face samples that must be roughly frontal. */
  readonly minFrontalShare: number;
  /** Largest face-descriptor distance between the consent video's person and the training video's. */
  readonly maxConsentDistance: number;
}

const DEFAULT_POLICY: VerifyPolicy = {
  name: "default",
  containers: ["mp4", "mov", "webm", "matroska"],
  videoCodecs: ["h264", "hevc", "vp9", "av1"],
  resolutions: [
    [1920, 1080],
    [3840, 2160],
  ],
  minShortSide: 1080,
  minDurationSeconds: 170,
  maxDurationSeconds: 610,
  minFps: 24,
  maxFps: 60,
  requireAudio: true,
  faceSamples: 20,
  minSingleFaceShare: 0.9,
  minFaceHeightShare: 0.1,
  maxYawDegrees: 30,
  minFrontalShare: 0.8,
  maxConsentDistance: 0.55,
};

const DEV_POLICY: VerifyPolicy = {
  ...DEFAULT_POLICY,
  name: "dev",
  resolutions: [],
  minShortSide: 240,
  minDurationSeconds: 2,
  maxDurationSeconds: 610,
  minFps: 15,
  faceSamples: 8,
};

export const BUILT_IN_POLICIES: Readonly<Record<string, VerifyPolicy>> = Object.freeze({
  default: DEFAULT_POLICY,
  dev: DEV_POLICY,
});

const NUMBER_FIELDS = [
  "minShortSide",
  "minDurationSeconds",
  "maxDurationSeconds",
  "minFps",
  "maxFps",
  "faceSamples",
  "minSingleFaceShare",
  "minFaceHeightShare",
  "maxYawDegrees",
  "minFrontalShare",
  "maxConsentDistance",
] as const;

/** A policy from a parsed JSON document; throws naming the first bad field. */
export function policyFromJson(name: string, value: unknown): VerifyPolicy {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error(`verify policy ${name} must be a JSON object`);
  }
  const o = value as Record<string, unknown>;
  const base = BUILT_IN_POLICIES[typeof o.extends === "string" ? o.extends : "default"];
  if (!base)
    throw new Error(
      `verify policy ${name}: extends must name ${Object.keys(BUILT_IN_POLICIES).join(" or ")}`,
    );
  const policy: Record<string, unknown> = { ...base, name };
  for (const field of NUMBER_FIELDS) {
    if (o[field] === undefined) continue;
    if (typeof o[field] !== "number" || !Number.isFinite(o[field]) || o[field] < 0) {
      throw new Error(`verify policy ${name}: ${field} must be a number ≥ 0`);
    }
    policy[field] = o[field];
  }
  for (const field of ["containers", "videoCodecs"] as const) {
    if (o[field] === undefined) continue;
    if (!Array.isArray(o[field]) || !o[field].every((v) => typeof v === "string")) {
      throw new Error(`verify policy ${name}: ${field} must be an array of strings`);
    }
    policy[field] = o[field];
  }
  if (o.resolutions !== undefined) {
    const ok =
      Array.isArray(o.resolutions) &&
      o.resolutions.every(
        (r) => Array.isArray(r) && r.length === 2 && r.every((n) => Number.isInteger(n) && n > 0),
      );
    if (!ok) throw new Error(`verify policy ${name}: resolutions must be [[long, short], …] in pixels`);
    policy.resolutions = o.resolutions;
  }
  if (o.requireAudio !== undefined) {
    if (typeof o.requireAudio !== "boolean")
      throw new Error(`verify policy ${name}: requireAudio must be true or false`);
    policy.requireAudio = o.requireAudio;
  }
  return policy as unknown as VerifyPolicy;
}

/** What a probe found, as the format rules need it. */
export interface VideoFacts {
  readonly formatName: string;
  readonly durationSeconds: number;
  readonly video: {
    readonly codec: string;
    readonly width: number;
    readonly height: number;
    readonly fps: number;
  } | null;
  readonly audio: { readonly codec: string } | null;
}

/** Every way the video's format breaks the policy, each a sentence the uploader can act on. */
export function formatProblems(facts: VideoFacts, policy: VerifyPolicy): string[] {
  const problems: string[] = [];
  const containers = facts.formatName.split(",");
  if (!policy.containers.some((c) => containers.includes(c))) {
    problems.push(`The file is in ${facts.formatName} format; upload ${policy.containers.join(", ")}`);
  }
  const video = facts.video;
  if (!video) {
    problems.push("The file has no video track");
  } else {
    if (!policy.videoCodecs.includes(video.codec)) {
      problems.push(`The video is encoded as ${video.codec}; use ${policy.videoCodecs.join(", ")}`);
    }
    const long = Math.max(video.width, video.height);
    const short = Math.min(video.width, video.height);
    const sizes = policy.resolutions;
    if (sizes.length > 0 && !sizes.some(([l, s]) => l === long && s === short)) {
      const named = sizes.map(([l, s]) => `${l}×${s}`).join(" or ");
      problems.push(`The video is ${video.width}×${video.height}; record ${named} (landscape or portrait)`);
    } else if (short < policy.minShortSide) {
      problems.push(
        `The video is ${video.width}×${video.height}; its short side must be at least ${policy.minShortSide} pixels`,
      );
    }
    if (!(video.fps >= policy.minFps && video.fps <= policy.maxFps)) {
      problems.push(
        `The video runs at ${round(video.fps)} fps; record at ${policy.minFps}–${policy.maxFps} fps`,
      );
    }
  }
  const d = facts.durationSeconds;
  if (!(d >= policy.minDurationSeconds && d <= policy.maxDurationSeconds)) {
    problems.push(
      `The video is ${round(d)} seconds long; it must be ${describeSeconds(policy.minDurationSeconds)} to ${describeSeconds(policy.maxDurationSeconds)} long`,
    );
  }
  if (policy.requireAudio && !facts.audio)
    problems.push("The video has no sound track; record with the microphone on");
  return problems;
}

function round(n: number): string {
  return String(Math.round(n * 10) / 10);
}

function describeSeconds(s: number): string {
  return s >= 120 ? `${round(s / 60)} minutes` : `${round(s)} seconds`;
}
