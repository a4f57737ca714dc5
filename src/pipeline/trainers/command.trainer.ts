import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Trainer, TrainerRun } from "./trainer.js";

/**
 * A line of a trainer's output that reports progress: `progress 0.42`, `PROGRESS: 42%`,
 * `progress=0.9`. A fraction (≤ 1) or a percentage; undefined for any other line.
 */
export function parseProgressLine(line: string): number | undefined {
  const match = /^\s*progress\s*[:=]?\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/i.exec(line);
  if (!match) return undefined;
  const value = Number(match[1]);
  const fraction = match[2] === "%" || value > 1 ? value / 100 : value;
  return fraction >= 0 && fraction <= 1 ? fraction : undefined;
}

/** Splits a command line into words, honouring single and double quotes (no shell is involved). */
export function splitCommand(command: string): string[] {
  const words: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (const match of command.matchAll(pattern)) {
    words.push(match[1] !== undefined ? match[1].replace(/\\(.)/g, "$1") : (match[2] ?? match[3] ?? ""));
  }
  return words;
}

/**
 * `--trainer-command "<program> {input} {output}"`: runs a local program (a Python GPU trainer, say)
 * with the input and output directories in place of `{input}` and `{output}`. Its stdout and stderr
 * lines go to the task's log; progress lines (see parseProgressLine) report progress. A non-zero exit
 * fails the attempt (it is retried); aborting kills the program.
 */
export function commandTrainer(command: string): Trainer {
  const words = splitCommand(command);
  if (words.length === 0) throw new Error("the trainer command is empty");
  if (!words.some((w) => w.includes("{input}")) || !words.some((w) => w.includes("{output}"))) {
    throw new Error("the trainer command must name {input} and {output}");
  }
  return {
    name: `command:${words[0]}`,
    train: (run) => runCommand(words, run),
  };
}

function runCommand(words: readonly string[], run: TrainerRun): Promise<void> {
  const [program, ...args] = words.map((w) =>
    w.replaceAll("{input}", run.inputDir).replaceAll("{output}", run.outputDir),
  );
  return new Promise((resolve, reject) => {
    if (run.signal.aborted) {
      reject(run.signal.reason);
      return;
    }
    const child = spawn(program as string, args, { stdio: ["ignore", "pipe", "pipe"] });
    const onAbort = () => child.kill("SIGKILL");
    run.signal.addEventListener("abort", onAbort, { once: true });
    const tail: string[] = [];
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on("line", (line) => {
        const progress = parseProgressLine(line);
        if (progress !== undefined) run.progress(progress);
        else {
          run.log(line);
          tail.push(line);
          if (tail.length > 20) tail.shift();
        }
      });
    }
    child.once("error", (error) => {
      run.signal.removeEventListener("abort", onAbort);
      reject(new Error(`the trainer command could not start: ${error.message}`));
    });
    child.once("close", (code, signal) => {
      run.signal.removeEventListener("abort", onAbort);
      if (run.signal.aborted) reject(run.signal.reason);
      else if (code === 0) resolve();
      else
        reject(
          new Error(
            `the trainer command exited with ${signal ?? `code ${code}`}: ${tail.slice(-5).join(" | ")}`,
          ),
        );
    });
  });
}
