import type { PartResult } from "./multipart-uploader.js";

/**
 * A count of bytes on stderr: on a terminal a bar redrawn in place (at most every 100 ms) with what
 * else is counted (`counts()`, e.g. `3/10 parts`); subclasses say what they print otherwise.
 */
abstract class ByteProgress {
  protected readonly out = process.stderr;
  protected readonly tty = process.stderr.isTTY === true;
  readonly #started = performance.now();
  protected done = 0;
  #drawnAt = 0;

  constructor(readonly total: number) {}

  /** Bytes done (sent, received, or found already there); negative when bytes counted are thrown away. */
  bytes(n: number): void {
    this.done += n;
    if (this.tty && performance.now() - this.#drawnAt > 100) this.draw();
  }

  end(): void {
    if (this.tty) {
      this.draw();
      this.out.write("\n");
    }
  }

  protected draw(): void {
    this.#drawnAt = performance.now();
    this.out.write(bytesBar(this.done, this.total, this.#started, this.counts()));
  }

  protected abstract counts(): string;
}

/** Upload progress on stderr: a bar redrawn in place on a terminal, one line per part otherwise. */
export class UploadProgress extends ByteProgress {
  /** Bytes of finished parts (`done` also counts parts still in flight). */
  #partBytes = 0;
  #parts = 0;

  constructor(
    total: number,
    readonly partCount: number,
  ) {
    super(total);
  }

  part(result: PartResult): void {
    this.#parts += 1;
    this.#partBytes += result.bytes;
    if (this.tty) {
      this.draw();
      return;
    }
    const verb = result.status === "skipped" ? "already uploaded" : "sent";
    this.out.write(
      `part ${result.partNumber}/${this.partCount} ${verb} (${formatBytes(result.bytes)}); ${this.#parts}/${this.partCount} parts, ${percentOf(this.#partBytes, this.total)}% of ${formatBytes(this.total)}\n`,
    );
  }

  note(message: string): void {
    this.out.write(`${message}\n`);
  }

  protected counts(): string {
    return `${this.#parts}/${this.partCount} parts`;
  }
}

/**
 * Download progress on stderr, in bytes over many files: a bar redrawn in place on a terminal; a line
 * at each tenth otherwise (a package has hundreds of small files).
 */
export class DownloadProgress extends ByteProgress {
  #files = 0;
  #tenths = 0;

  constructor(
    total: number,
    readonly fileCount: number,
  ) {
    super(total);
  }

  file(): void {
    this.#files += 1;
    if (this.tty) {
      this.draw();
      return;
    }
    const tenths = Math.floor((this.done / Math.max(1, this.total)) * 10);
    if (tenths > this.#tenths || this.#files === this.fileCount) {
      this.#tenths = tenths;
      this.out.write(
        `${percentOf(this.done, this.total)}% of ${formatBytes(this.total)}, ${this.#files}/${this.fileCount} files\n`,
      );
    }
  }

  /** A line of its own; on a terminal above the bar, which is drawn again below it. */
  note(message: string): void {
    if (!this.tty) {
      this.out.write(`${message}\n`);
      return;
    }
    this.out.write(`\r\x1b[K${message}\n`);
    this.draw();
  }

  protected counts(): string {
    return `${this.#files}/${this.fileCount} files`;
  }
}

/** Progress of a step measured in fractions (0..1) on stderr: a bar on a terminal, else a line a quarter. */
export class StepProgress {
  readonly #out = process.stderr;
  readonly #tty = process.stderr.isTTY === true;
  #quarters = -1;

  constructor(readonly label: string) {}

  update(fraction: number): void {
    const pct = percentOf(fraction, 1);
    if (this.#tty) {
      this.#out.write(`\r[${barOf(pct)}] ${String(pct).padStart(3)}% ${this.label}   `);
      return;
    }
    const quarters = Math.floor(pct / 25);
    if (quarters > this.#quarters) {
      this.#quarters = quarters;
      this.#out.write(`${this.label}: ${pct}%\n`);
    }
  }

  end(): void {
    if (this.#tty) this.#out.write("\n");
  }
}

/** `\r[####.....]  40% 1.2 MiB/3.0 MiB  <what>  2.5 MiB/s`, for redrawing in place. */
function bytesBar(done: number, total: number, started: number, what: string): string {
  const pct = percentOf(done, total);
  const seconds = (performance.now() - started) / 1000;
  const rate = seconds > 0 ? `  ${formatBytes(done / seconds)}/s` : "";
  return `\r[${barOf(pct)}] ${String(pct).padStart(3)}% ${formatBytes(done)}/${formatBytes(total)}  ${what}${rate}   `;
}

function barOf(pct: number): string {
  return "#".repeat(Math.floor(pct / 4)).padEnd(25, ".");
}

function percentOf(done: number, total: number): number {
  return Math.min(100, Math.max(0, Math.floor((done / Math.max(1, total)) * 100)));
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
