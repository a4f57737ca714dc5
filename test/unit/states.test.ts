import { describe, expect, it } from "vitest";
import { ICE_STATUS_STATES, ICE_STATUSES, iceStatusOf } from "../../src/domain/ice-status.js";
import {
  ALL_STATES,
  canTransition,
  FINAL_STATES,
  FOREIGN_STATES,
  isJobState,
  PIPELINE_STATES,
  type PipelineState,
  TRANSITIONS,
} from "../../src/domain/states.js";

/** Every transition Doppel allows, written out by hand: the table must equal exactly this. */
const EXPECTED: ReadonlyArray<[PipelineState, PipelineState]> = [
  ["WAIT_FILE_UPLOAD", "AUTO_VERIFYING"],
  ["AUTO_VERIFYING", "AUTO_VERIFY_FAILED"],
  ["AUTO_VERIFYING", "MANUAL_VERIFYING"],
  ["AUTO_VERIFY_FAILED", "AUTO_VERIFYING"],
  ["MANUAL_VERIFYING", "MANUAL_VERIFY_FAILED"],
  ["MANUAL_VERIFYING", "MANUAL_VERIFY_SUCCESS"],
  ["MANUAL_VERIFYING", "JOB_PENDING"],
  ["MANUAL_VERIFY_FAILED", "AUTO_VERIFYING"],
  ["MANUAL_VERIFY_SUCCESS", "WAIT_TRAINING_DATA_PREPROCESS"],
  ["MANUAL_VERIFY_SUCCESS", "TRAINING_DATA_PREPROCESSING"],
  ["MANUAL_VERIFY_SUCCESS", "JOB_PENDING"],
  ["WAIT_TRAINING_DATA_PREPROCESS", "TRAINING_DATA_PREPROCESSING"],
  ["WAIT_TRAINING_DATA_PREPROCESS", "JOB_PENDING"],
  ["TRAINING_DATA_PREPROCESSING", "TRAINING_DATA_PREPROCESS_FAILED"],
  ["TRAINING_DATA_PREPROCESSING", "TRAINING_DATA_PREPROCESS_SUCCESS"],
  ["TRAINING_DATA_PREPROCESS_FAILED", "TRAINING_DATA_PREPROCESSING"],
  ["TRAINING_DATA_PREPROCESS_SUCCESS", "TRAINING"],
  ["TRAINING_DATA_PREPROCESS_SUCCESS", "JOB_PENDING"],
  ["TRAINING", "TRAIN_FAILED"],
  ["TRAINING", "TRAIN_SUCCESS"],
  ["TRAIN_FAILED", "TRAINING"],
  ["TRAIN_SUCCESS", "INFERENCE_DATA_PREPROCESSING"],
  ["INFERENCE_DATA_PREPROCESSING", "INFERENCE_DATA_PREPROCESS_FAILED"],
  ["INFERENCE_DATA_PREPROCESSING", "JOB_SUCCESS"],
  ["INFERENCE_DATA_PREPROCESSING", "WAIT_USER_CONFIRM"],
  ["INFERENCE_DATA_PREPROCESS_FAILED", "INFERENCE_DATA_PREPROCESSING"],
  ["WAIT_USER_CONFIRM", "JOB_FINISH"],
  ["WAIT_USER_CONFIRM", "JOB_REJECT"],
  ["JOB_PENDING", "MANUAL_VERIFYING"],
  ["JOB_PENDING", "WAIT_TRAINING_DATA_PREPROCESS"],
  ["JOB_PENDING", "TRAINING_DATA_PREPROCESS_SUCCESS"],
];

describe("transition table", () => {
  it("allows exactly the expected pairs, over every (from, to) of all states", () => {
    const expected = new Set(EXPECTED.map(([a, b]) => `${a}>${b}`));
    for (const from of ALL_STATES) {
      for (const to of ALL_STATES) {
        expect(canTransition(from, to), `${from} -> ${to}`).toBe(expected.has(`${from}>${to}`));
      }
    }
  });

  it("never leaves a final state and never enters a state outside the pipeline", () => {
    expect([...FINAL_STATES].sort()).toEqual(["JOB_FINISH", "JOB_REJECT", "JOB_SUCCESS"]);
    for (const targets of Object.values(TRANSITIONS)) {
      for (const to of targets) expect(PIPELINE_STATES).toContain(to);
    }
    for (const foreign of FOREIGN_STATES)
      expect(ALL_STATES.some((s) => canTransition(foreign, s))).toBe(false);
  });

  it("reaches JOB_FINISH from WAIT_FILE_UPLOAD and every state from the start", () => {
    const reached = new Set<PipelineState>(["WAIT_FILE_UPLOAD"]);
    const queue: PipelineState[] = ["WAIT_FILE_UPLOAD"];
    while (queue.length > 0) {
      const next = queue.shift() as PipelineState;
      for (const to of TRANSITIONS[next]) {
        if (reached.has(to)) continue;
        reached.add(to);
        queue.push(to);
      }
    }
    expect([...reached].sort()).toEqual([...PIPELINE_STATES].sort());
  });

  it("recognises every documented state and nothing else", () => {
    for (const s of ALL_STATES) expect(isJobState(s)).toBe(true);
    for (const s of ["", "training", "JOB_FINISH ", "CREATING", "__proto__"])
      expect(isJobState(s)).toBe(false);
  });
});

describe("ICE status mapping", () => {
  it("maps every state to exactly one of the five statuses", () => {
    const seen = ICE_STATUSES.flatMap((status) => ICE_STATUS_STATES[status]);
    expect([...seen].sort()).toEqual([...ALL_STATES].sort());
    expect(new Set(seen).size).toBe(seen.length);
  });

  it("follows the design table for the pipeline states", () => {
    expect(iceStatusOf("WAIT_FILE_UPLOAD")).toBe("Init");
    expect(iceStatusOf("MANUAL_VERIFYING")).toBe("Queuing");
    expect(iceStatusOf("JOB_PENDING")).toBe("Queuing");
    expect(iceStatusOf("TRAIN_SUCCESS")).toBe("Training");
    expect(iceStatusOf("WAIT_USER_CONFIRM")).toBe("Success");
    expect(iceStatusOf("JOB_REJECT")).toBe("Fail");
    for (const s of PIPELINE_STATES.filter((x) => x.endsWith("_FAILED"))) expect(iceStatusOf(s)).toBe("Fail");
  });
});
