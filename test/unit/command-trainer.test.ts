/**
 * `--trainer-command`: a real child process as the trainer — its progress lines, its log, its exit
 * code, and being killed when the task is aborted.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  commandTrainer,
  parseProgressLine,
  splitCommand,
} from "../../src/pipeline/trainers/command.trainer.js";

describe("parseProgressLine", () => {
  it("reads fractions and percentages in the usual spellings and nothing else", () => {
    expect(parseProgressLine("progress 0.42")).toBe(0.42);
    expect(parseProgressLine("PROGRESS: 42%")).toBe(0.42);
    expect(parseProgressLine("progress=90")).toBe(0.9);
    expect(parseProgressLine("  progress 1 ")).toBe(1);
    expect(parseProgressLine("progress 250")).toBeUndefined();
    expect(parseProgressLine("epoch 3 loss 0.1")).toBeUndefined();
    fc.assert(
      fc.property(fc.string(), (line) => {
        const p = parseProgressLine(line);
        if (p !== undefined) expect(p >= 0 && p <= 1).toBe(true);
      }),
    );
  });
});

describe("splitCommand", () => {
  it("splits on spaces and keeps quoted words whole", () => {
    expect(splitCommand(`python3 "my trainer.py" --in {input} --out '{output}'`)).toEqual([
      "python3",
      "my trainer.py",
      "--in",
      "{input}",
      "--out",
      "{output}",
    ]);
  });
});

describe("commandTrainer", () => {
  let dir: string;
  let script: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "doppel-cmd-trainer-"));
    script = join(dir, "trainer.mjs");
    await writeFile(
      script,
      `import { writeFileSync, readFileSync } from "node:fs";
const [input, output, mode] = process.argv.slice(2);
console.log("loading " + readFileSync(input + "/faces.json", "utf8"));
console.log("progress 0.5");
console.error("PROGRESS: 100%");
if (mode === "fail") { console.error("CUDA out of memory"); process.exit(3); }
if (mode === "hang") setInterval(() => {}, 1000);
else writeFileSync(output + "/model.bin", "weights");
`,
    );
    await writeFile(join(dir, "faces.json"), "{}");
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  const run = (mode: string, signal = new AbortController().signal) => {
    const progress: number[] = [];
    const log: string[] = [];
    const promise = commandTrainer(`node ${script} {input} {output} ${mode}`).train({
      inputDir: dir,
      outputDir: dir,
      signal,
      progress: (p) => progress.push(p),
      log: (line) => log.push(line),
    });
    return { promise, progress, log };
  };

  it("runs the program with the directories, streams its log and reads its progress", async () => {
    const { promise, progress, log } = run("ok");
    await promise;
    expect(await readFile(join(dir, "model.bin"), "utf8")).toBe("weights");
    expect(progress).toEqual(expect.arrayContaining([0.5, 1]));
    expect(log).toEqual(["loading {}"]);
  });

  it("fails with the exit code and the last lines when the program fails", async () => {
    await expect(run("fail").promise).rejects.toThrow(/exited with code 3: .*CUDA out of memory/);
  });

  it("kills the program when the task is aborted", async () => {
    const controller = new AbortController();
    const { promise } = run("hang", controller.signal);
    setTimeout(() => controller.abort(new Error("stopping")), 300);
    await expect(promise).rejects.toThrow("stopping");
  });

  it("refuses a command without {input} and {output}, and one that cannot start", async () => {
    expect(() => commandTrainer("python3 train.py")).toThrow(/must name \{input\} and \{output\}/);
    await expect(
      commandTrainer("/nonexistent/trainer {input} {output}").train({
        inputDir: dir,
        outputDir: dir,
        signal: new AbortController().signal,
        progress: () => {},
        log: () => {},
      }),
    ).rejects.toThrow(/could not start/);
  });
});
