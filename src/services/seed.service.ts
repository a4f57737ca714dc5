import { assetOfJob } from "../domain/asset.js";
import { type Job, MODEL_RESOLUTIONS, newJobId } from "../domain/job.js";
import { mulberry32 } from "../domain/seeded-random.js";
import type { PipelineState } from "../domain/states.js";
import { insertAssets } from "../store/asset.repository.js";
import { insertJobs } from "../store/job.repository.js";
import { requireProject } from "./admin.service.js";
import type { ServiceContext } from "./context.js";

export interface SeedOptions {
  readonly projectId: string;
  readonly jobs: number;
  /** Same seed, same jobs (ids aside, which embed randomness by design). */
  readonly seed?: number;
  /** Called after each batch with the number written so far. */
  readonly onProgress?: (written: number) => void;
}

const DAY = 24 * 3600 * 1000;
const BATCH_ROWS = 500;
const TAGS = [
  "news",
  "education",
  "ecommerce",
  "support",
  "finance",
  "live",
  "promo",
  "internal",
  "zh",
  "en",
  "male",
  "female",
];
const FIRST_NAMES = ["Lin", "Mei", "Wei", "Ana", "Omar", "Sara", "Ken", "Yuki", "Ivan", "Lea", "Ravi", "Zoe"];
const MODEL_VERSIONS = ["V3", "V3", "V3.2", "V3.3", "V2"];
// Most real jobs are finished; a few are in flight or failed. Weights per state, in PIPELINE_STATES order.
const STATE_WEIGHTS: Record<PipelineState, number> = {
  WAIT_FILE_UPLOAD: 6,
  AUTO_VERIFYING: 2,
  AUTO_VERIFY_FAILED: 4,
  MANUAL_VERIFYING: 3,
  MANUAL_VERIFY_FAILED: 2,
  MANUAL_VERIFY_SUCCESS: 2,
  WAIT_TRAINING_DATA_PREPROCESS: 1,
  TRAINING_DATA_PREPROCESSING: 2,
  TRAINING_DATA_PREPROCESS_FAILED: 1,
  TRAINING_DATA_PREPROCESS_SUCCESS: 2,
  TRAINING: 4,
  TRAIN_FAILED: 2,
  TRAIN_SUCCESS: 1,
  INFERENCE_DATA_PREPROCESSING: 2,
  INFERENCE_DATA_PREPROCESS_FAILED: 1,
  JOB_SUCCESS: 30,
  WAIT_USER_CONFIRM: 5,
  JOB_REJECT: 2,
  JOB_PENDING: 2,
  JOB_FINISH: 26,
};
const TRAINED: ReadonlySet<PipelineState> = new Set([
  "TRAINING",
  "TRAIN_FAILED",
  "TRAIN_SUCCESS",
  "INFERENCE_DATA_PREPROCESSING",
  "INFERENCE_DATA_PREPROCESS_FAILED",
  "JOB_SUCCESS",
  "WAIT_USER_CONFIRM",
  "JOB_REJECT",
  "JOB_FINISH",
]);
const HAS_ASSET: ReadonlySet<PipelineState> = new Set([
  "JOB_SUCCESS",
  "WAIT_USER_CONFIRM",
  "JOB_REJECT",
  "JOB_FINISH",
]);

/**
 * Fills a project with realistic jobs spread over every state, a year of dates, batches, tags and
 * resolutions, for demos and benchmarks. Rows go in batches inside transactions of ~10,000.
 */
export async function seedJobs(ctx: ServiceContext, options: SeedOptions): Promise<number> {
  await requireProject(ctx, options.projectId);
  const random = mulberry32(options.seed ?? 1);
  const pickState = weighted(random, STATE_WEIGHTS);
  const now = ctx.now();
  const start = now - 365 * DAY;
  // Creation times ascend with the index, so UUIDv7 ids ascend with them as real ids would.
  const step = (365 * DAY) / Math.max(options.jobs, 1);
  let written = 0;
  while (written < options.jobs) {
    const chunk = Math.min(options.jobs - written, BATCH_ROWS * 20);
    await ctx.database.db.transaction().execute(async (trx) => {
      for (let done = 0; done < chunk; done += BATCH_ROWS) {
        const rows: Job[] = [];
        for (let i = 0; i < Math.min(BATCH_ROWS, chunk - done); i++) {
          const createTime = Math.floor(start + (written + done + i) * step + random() * step);
          rows.push(makeJob(random, pickState(), options.projectId, createTime, now));
        }
        await insertJobs(trx, rows);
        // A seeded job that has an asset id has its asset's record too (without files: nothing trained).
        await insertAssets(
          trx,
          rows
            .filter((job) => job.assetId !== null)
            .map((job) => assetOfJob(job, job.assetId as string, null, job.updateTime)),
        );
      }
    });
    written += chunk;
    options.onProgress?.(written);
  }
  return written;
}

function makeJob(
  random: () => number,
  state: PipelineState,
  projectId: string,
  createTime: number,
  now: number,
): Job {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const updateTime = Math.min(now, createTime + Math.floor(random() * 10 * DAY));
  const trained = TRAINED.has(state);
  const firstTraining = trained ? createTime + Math.floor((updateTime - createTime) * 0.5) : null;
  const tagCount = Math.floor(random() * 4);
  const tags = [...new Set(Array.from({ length: tagCount }, () => pick(TAGS)))];
  const person = pick(FIRST_NAMES);
  return {
    id: newJobId(createTime),
    projectId,
    appUserId: random() < 0.3 ? `user-${Math.floor(random() * 50)}` : null,
    name: `${person} ${Math.floor(random() * 1000)}`,
    description: random() < 0.5 ? `Presenter avatar of ${person}` : null,
    avatarType: "2DAvatar",
    state,
    batchName: random() < 0.6 ? `batch-${String(Math.floor(random() * 20) + 1).padStart(2, "0")}` : null,
    tags,
    modelVersion: pick(MODEL_VERSIONS),
    mattingType: random() < 0.9 ? "AI" : "MANUAL",
    modelResolution: random() < 0.8 ? MODEL_RESOLUTIONS[0] : MODEL_RESOLUTIONS[1],
    assetId: HAS_ASSET.has(state) ? newJobId(updateTime) : null,
    contact: random() < 0.7 ? `1${String(Math.floor(random() * 1e10)).padStart(10, "0")}` : null,
    message: state.endsWith("FAILED") ? "Seeded failure: the training video did not pass this stage" : null,
    createTime,
    updateTime,
    firstTrainingTime: firstTraining,
    lastTrainingTime: firstTraining === null ? null : Math.max(firstTraining, updateTime - DAY),
  };
}

function weighted<T extends string>(random: () => number, weights: Record<T, number>): () => T {
  const entries = Object.entries(weights) as Array<[T, number]>;
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  return () => {
    let r = random() * total;
    for (const [value, weight] of entries) {
      r -= weight;
      if (r < 0) return value;
    }
    return entries[entries.length - 1]?.[0] as T;
  };
}
