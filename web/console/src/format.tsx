/** How the console writes sizes, times and refusals, the same on every page. */

/** Bytes as B, KB, MB, GB or TB (1024-based), one decimal under 10. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** A UTC timestamp of the API (`2026-01-31T12:00:00Z`) as `2026-01-31 12:00:00`, machine-readable too. */
export function UtcTime({ value }: { value: string }) {
  return <time dateTime={value}>{value.replace("T", " ").replace("Z", "")}</time>;
}

/** Why something failed, announced to screen readers; nothing when there is no error. */
export function Alert({ text }: { text: string | undefined }) {
  return text === undefined ? null : (
    <p role="alert" class="error">
      {text}
    </p>
  );
}
