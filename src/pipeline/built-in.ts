import { readFile } from "node:fs/promises";
import type { Config } from "../config/config.js";
import { BUILT_IN_POLICIES, policyFromJson, type VerifyPolicy } from "../domain/verify-policy.js";
import { type FaceAnalyzer, openFaceAnalyzer } from "../media/faces.js";
import type { StageHandlers } from "./stage.js";
import { packageStage } from "./stages/package.stage.js";
import { preprocessStage } from "./stages/preprocess.stage.js";
import { autoReviewStage } from "./stages/review.stage.js";
import { trainStage } from "./stages/train.stage.js";
import { verifyStage } from "./stages/verify.stage.js";
import { commandTrainer } from "./trainers/command.trainer.js";
import { referenceTrainer } from "./trainers/reference.trainer.js";

/** The built-in stage handlers and the resources they hold (the face models' worker thread). */
export interface BuiltInStages {
  readonly handlers: StageHandlers;
  readonly policy: VerifyPolicy;
  close(): Promise<void>;
}

/** A built-in verify policy by name, or one read from a JSON file; throws a readable error. */
export async function loadVerifyPolicy(nameOrFile: string): Promise<VerifyPolicy> {
  const builtIn = BUILT_IN_POLICIES[nameOrFile];
  if (builtIn) return builtIn;
  if (!nameOrFile.endsWith(".json")) {
    throw new Error(
      `verify policy must be ${Object.keys(BUILT_IN_POLICIES).join(", ")} or a .json file (got ${JSON.stringify(nameOrFile)})`,
    );
  }
  let text: string;
  try {
    text = await readFile(nameOrFile, "utf8");
  } catch (error) {
    throw new Error(`cannot read verify policy ${nameOrFile}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`verify policy ${nameOrFile} is not valid JSON: ${(error as Error).message}`);
  }
  return policyFromJson(nameOrFile, parsed);
}

/** Every stage as configured: the verify policy, the trainer (built-in or `--trainer-command`). */
export async function builtInStages(config: Config): Promise<BuiltInStages> {
  const policy = await loadVerifyPolicy(config.pipeline.verifyPolicy);
  // One model load per process, on first use: a worker that only trains never loads the face models.
  // A failed detection drops the analyzer (its worker thread may have died); the next use reopens it.
  let analyzer: Promise<FaceAnalyzer> | undefined;
  const faces = async (): Promise<FaceAnalyzer> => {
    analyzer ??= openFaceAnalyzer();
    const opened = analyzer;
    const current = await opened.catch((error: unknown) => {
      if (analyzer === opened) analyzer = undefined;
      throw error;
    });
    return {
      detect: (image) =>
        current.detect(image).catch(async (error: unknown) => {
          if (analyzer === opened) {
            analyzer = undefined;
            await current.close().catch(() => {});
          }
          throw error;
        }),
      close: () => current.close(),
    };
  };
  const command = config.pipeline.trainerCommand;
  return {
    policy,
    handlers: {
      verify: verifyStage(policy, faces),
      review: autoReviewStage(),
      preprocess: preprocessStage(faces),
      train: trainStage(command === undefined ? referenceTrainer : commandTrainer(command)),
      package: packageStage(),
    },
    async close() {
      if (analyzer) await (await analyzer).close();
    },
  };
}
