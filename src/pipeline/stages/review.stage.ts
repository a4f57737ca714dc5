import type { StageHandler } from "../stage.js";

/**
 * MANUAL_VERIFYING with `--review auto`: approves at once. (With `--review manual` no review task is
 * queued; an admin approves or rejects through the review API.)
 */
export function autoReviewStage(): StageHandler {
  return async () => ({ description: "Approved automatically (review policy auto)" });
}
