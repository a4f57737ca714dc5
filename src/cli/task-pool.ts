import { setMaxListeners } from "node:events";

/**
 * Runs `run` on each item in list order, `concurrency` at a time (the parts of an upload, the files of a
 * download). The first failure stops the rest: no further item starts, the signal handed to those in
 * flight is aborted, and that first failure is thrown once they have settled. Aborting `outer` aborts
 * them the same way.
 */
export async function runEach<T>(
  items: readonly T[],
  concurrency: number,
  run: (item: T, signal: AbortSignal) => Promise<void>,
  outer?: AbortSignal,
): Promise<void> {
  const abort = new AbortController();
  // One abort listener per item in flight; up to 16 are expected, not a leak.
  setMaxListeners(64, abort.signal);
  const stop = () => abort.abort(outer?.reason);
  outer?.addEventListener("abort", stop, { once: true });
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && !abort.signal.aborted) {
      const item = items[next++];
      if (item === undefined) return;
      try {
        await run(item, abort.signal);
      } catch (error) {
        failure ??= { error };
        abort.abort();
      }
    }
  };
  try {
    const workers = Math.max(1, Math.min(concurrency, items.length));
    await Promise.all(Array.from({ length: workers }, worker));
  } finally {
    outer?.removeEventListener("abort", stop);
  }
  if (failure !== undefined) throw failure.error;
  if (outer?.aborted) throw outer.reason;
}
