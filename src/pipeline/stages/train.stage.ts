import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { StageHandler } from "../stage.js";
import { StageFailure } from "../stage.js";
import type { Trainer } from "../trainers/trainer.js";
import {
  PREPROCESSED_FILES,
  type PreprocessedManifest,
  preprocessedFile,
  preprocessedManifestKey,
} from "./preprocess.stage.js";
import { downloadRecordedFile, readJson, uploadDirectory } from "./stage-files.js";

/** Where the package a trainer made for a job waits for the packaging stage. */
export function trainedPackagePrefix(jobId: string): string {
  return `jobs/${jobId}/train/package/`;
}

/**
 * TRAINING: hands the preprocessed data to the trainer and stores the package it writes. An earlier
 * attempt's package is removed first, so a retried run never leaves a mix of two attempts' files.
 */
export function trainStage(trainer: Trainer): StageHandler {
  return async (ctx, run) => {
    const inputDir = join(run.workDir, "input");
    const outputDir = join(run.workDir, "output");
    await mkdir(inputDir, { recursive: true });
    await rm(outputDir, { recursive: true, force: true });
    await mkdir(outputDir, { recursive: true });
    const manifest = await readJson<PreprocessedManifest>(ctx.blobs, preprocessedManifestKey(run.job.id));
    if (!manifest) {
      throw new StageFailure("DOPPEL.FILE_CHANGED", "The job's preprocessed training data has no manifest", [
        "The prepared training data is incomplete; ask the operator to check the blob store",
      ]);
    }
    // Each input must be exactly what preprocessing wrote from the verified video.
    for (const file of PREPROCESSED_FILES) {
      const recorded = preprocessedFile(run.job.id, manifest, file);
      await downloadRecordedFile(
        ctx.blobs,
        recorded,
        `preprocessed ${file}`,
        join(inputDir, file),
        run.signal,
      );
    }
    const started = Date.now();
    await trainer.train({
      inputDir,
      outputDir,
      signal: run.signal,
      progress: (fraction) => run.progress(0.95 * fraction),
      log: (line) => run.log.info({ job: run.job.id, trainer: trainer.name }, line),
    });
    if (run.signal.aborted) throw run.signal.reason;
    const prefix = trainedPackagePrefix(run.job.id);
    await ctx.blobs.deletePrefix(prefix);
    const stored = await uploadDirectory(ctx.blobs, outputDir, prefix);
    if (stored.files === 0) throw new Error(`trainer ${trainer.name} wrote no files`);
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    return {
      description: `Trained by ${trainer.name} in ${seconds} s: ${stored.files} files, ${stored.bytes} bytes`,
    };
  };
}
