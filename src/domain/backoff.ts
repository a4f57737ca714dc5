/**
 * Capped exponential backoff with jitter: `base·2^(failures-1)`, at most `cap`, minus up to a fifth,
 * so that retries of many things that failed together (tasks, webhook deliveries to a receiver that
 * was down) do not all come back at the same instant.
 */
export function backoffMs(failures: number, baseMs: number, capMs: number, random = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling * (1 - random() * 0.2));
}
