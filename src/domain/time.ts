/**
 * Time on the wire. Both clouds print UTC `yyyy-MM-ddTHH:mm:ssZ` (no milliseconds); filters accept
 * RFC 3339 with or without fraction and with any offset.
 */

/** Formats epoch milliseconds as `yyyy-MM-ddTHH:mm:ssZ`. */
export function formatUtcSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})$/;

/**
 * Parses an RFC 3339 timestamp to epoch milliseconds, or returns undefined. Rejects impossible dates
 * (2023-02-30) that `Date.parse` would silently roll over.
 */
export function parseRfc3339(value: string): number | undefined {
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map((part) => part ?? "");
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59)
    return undefined;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > daysInMonth) return undefined;
  const offset = m[8] ?? "Z";
  const normalised = `${y}-${mo}-${d}T${h}:${mi}:${s}${m[7] ?? ""}${offset.toUpperCase() === "Z" ? "Z" : offset.length === 5 ? `${offset.slice(0, 3)}:${offset.slice(3)}` : offset}`;
  const ms = Date.parse(normalised);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * Parses the upper end of a time range: the last millisecond it covers. Both clouds print whole
 * seconds while Doppel stores milliseconds, so a bound without a fraction covers its whole second;
 * otherwise a job's own displayed time, used as `create_until`, would leave that job out.
 */
export function parseRfc3339Until(value: string): number | undefined {
  const ms = parseRfc3339(value);
  if (ms === undefined) return undefined;
  return RFC3339.exec(value)?.[7] === undefined ? ms + 999 : ms;
}
