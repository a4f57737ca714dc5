/**
 * The package stage refuses, at once and for good, a trained package it could never unpack: one whose
 * files use a name both as a file and as a directory (`a` and `a/b`), which blob stores hold but no file
 * system can. (Before, unpacking failed with ENOTDIR and was retried until DOPPEL.STAGE_GAVE_UP.)
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StageFailure } from "../../src/pipeline/stage.js";
import { packageStage } from "../../src/pipeline/stages/package.stage.js";
import { fileDirectoryClashes } from "../../src/pipeline/stages/stage-files.js";
import { trainedPackagePrefix } from "../../src/pipeline/stages/train.stage.js";
import { openTestRuntime, type TestRuntime } from "../support/databases.js";
import { newJobRow, stageRunOf } from "../support/pipeline.js";

describe("the package stage", () => {
  let t: TestRuntime;
  let workDir: string;
  beforeAll(async () => {
    t = await openTestRuntime("sqlite");
    workDir = await mkdtemp(join(tmpdir(), "doppel-package-"));
  });
  afterAll(async () => {
    await t?.dispose();
    await rm(workDir, { recursive: true, force: true });
  });

  it("names every path used both as a file and as a directory", () => {
    expect(fileDirectoryClashes(["a", "a/b", "c/d", "c/d/e/f", "g", "gh/i"])).toEqual(["a", "c/d"]);
    expect(fileDirectoryClashes(["manifest.json", "crops/000000.png", "crops/000001.png"])).toEqual([]);
  });

  it("fails a package holding `a` and `a/b` with DOPPEL.PACKAGE_INVALID, not a retryable error", async () => {
    const job = newJobRow("p", t.clock.now);
    for (const path of ["manifest.json", "a", "a/b"]) {
      await t.runtime.blobs.put(`${trainedPackagePrefix(job.id)}${path}`, Readable.from([Buffer.from(path)]));
    }
    const failure = await packageStage()(t.runtime, stageRunOf(job, workDir)).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(StageFailure);
    expect((failure as StageFailure).errorCode).toBe("DOPPEL.PACKAGE_INVALID");
    expect((failure as StageFailure).message).toMatch(/"a" both as a file and as a directory/);
  });
});
