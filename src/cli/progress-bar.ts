import type { PartResult } from "./multipart-uploader.js";

/** Upload progress on stderr: a bar redrawn in place on a terminal, one line per part otherwise. */
export class UploadProgress {
  readonly #out = process.stderr;
  readonly #tty = process.stderr.isTTY === true;
  readonly #started = performance.now();
  #done = 0;
  /** Bytes of finished parts (#done also counts parts still in flight). */
  #partBytes = 0;
  #parts = 0;
  #drawnAt = 0;

  constructor(
    readonly total: number,
    readonly partCount: number,
  ) {}

  bytes(n: number): void {
    this.#done += n;
    if (this.#tty && performance.now() - this.#drawnAt > 100) this.#draw();
  }

  part(result: PartResult): void {
    this.#parts += 1;
    this.#partBytes += result.bytes;
    if (this.#tty) {
      this.#draw();
      return;
    }
    const verb = result.status === "skipped" ? "already uploaded" : "sent";
    this.#out.write(
      `part ${result.partNumber}/${this.partCount} ${verb} (${formatBytes(result.bytes)}); ${this.#parts}/${this.partCount} parts, ${this.#percent(this.#partBytes)}% of ${formatBytes(this.total)}\n`,
    );
  }

  end(): void {
    if (this.#tty) {
      this.#draw();
      this.#out.write("\n");
    }
  }

  note(message: string): void {
    this.#out.write(`${message}\n`);
  }

  #percent(bytes = this.#done): number {
    return Math.floor((bytes / Math.max(1, this.total)) * 100);
  }

  #draw(): void {
    this.#drawnAt = performance.now();
    const pct = this.#percent();
    const bar = "#".repeat(Math.floor(pct / 4)).padEnd(25, ".");
    const seconds = (performance.now() - this.#started) / 1000;
    const rate = seconds > 0 ? `  ${formatBytes(this.#done / seconds)}/s` : "";
    this.#out.write(
      `\r[${bar}] ${String(pct).padStart(3)}% ${formatBytes(this.#done)}/${formatBytes(this.total)}  ${this.#parts}/${this.partCount} parts${rate}   `,
    );
  }
}

/** Bytes in binary units, e.g. `1.5 MiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
