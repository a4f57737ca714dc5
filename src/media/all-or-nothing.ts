import { abortReason } from "./ffmpeg.js";

/**
 * Runs tasks side by side, each with a signal of its own: the first failure (or `signal` aborting)
 * aborts the others, and every task is awaited before this returns or throws, so no ffmpeg is left
 * running behind a rejected promise. Throws the first failure.
 */
export async function allOrNothing(
  signal: AbortSignal,
  tasks: ReadonlyArray<(signal: AbortSignal) => Promise<void>>,
): Promise<void> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(abortReason(signal));
  if (signal.aborted) onAbort();
  signal.addEventListener("abort", onAbort, { once: true });
  let failure: { error: unknown } | undefined;
  try {
    await Promise.all(
      tasks.map((task) =>
        task(controller.signal).catch((error: unknown) => {
          failure ??= { error };
          controller.abort(error);
        }),
      ),
    );
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  if (failure) throw failure.error;
}
