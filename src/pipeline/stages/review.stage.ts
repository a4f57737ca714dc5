import { listJobFiles } from "../../store/job-file.repository.js";
import type { StageHandler } from "../stage.js";

/**
 * MANUAL_VERIFYING with `--review auto`: approves at once what the machine checked — unless the
 * consent is a letter (PDF or image) rather than a video: no machine can read a signature, so the job
 * waits for an operator whatever the review policy. (With `--review manual` no review task is queued;
 * an admin approves or rejects through the review API.)
 */
export function autoReviewStage(): StageHandler {
  return async (ctx, run) => {
    const grant = (await listJobFiles(ctx.database.db, run.job.id)).find((f) => f.slot === "grant-file");
    if (grant && !grant.contentType.startsWith("video/")) {
      return {
        description: `Waiting for an operator: the consent is a letter (${grant.contentType}), which a person must read`,
        waitForOperator: true,
      };
    }
    return { description: "Approved automatically (review policy auto)" };
  };
}
