import { describe, expect, it } from "vitest";
import { ICE_STATUS_STATES } from "../../src/domain/ice-status.js";
import type { Job } from "../../src/domain/job.js";
import {
  DELETABLE_STATES,
  ICE_DELETABLE_STATES,
  ICE_EDITABLE_STATES,
  MAY_DELETE_ICE,
  MAY_SUBMIT,
  requireState,
  SUBMITTABLE_STATES,
  UPLOAD_STATES,
} from "../../src/domain/job-rules.js";
import { ALL_STATES, canTransition, type JobState } from "../../src/domain/states.js";
import { parseJobOptions } from "../../src/store/job-options-json.js";

const jobIn = (state: JobState) => ({ id: "j1", state }) as Job;

describe("job state rules", () => {
  it("lets a job be submitted only where the transition table lets it start verification", () => {
    for (const state of ALL_STATES) {
      expect(SUBMITTABLE_STATES.includes(state), state).toBe(canTransition(state, "AUTO_VERIFYING"));
    }
  });

  it("changes files only in states ICE also lets a user edit, and deletes in ICE only where MetaStudio would", () => {
    for (const state of UPLOAD_STATES) expect(ICE_EDITABLE_STATES).toContain(state);
    for (const state of ICE_DELETABLE_STATES) expect(DELETABLE_STATES).toContain(state);
    expect(ICE_DELETABLE_STATES).toEqual(
      [...ICE_STATUS_STATES.Init, ...ICE_STATUS_STATES.Fail].filter((s) => DELETABLE_STATES.includes(s)),
    );
  });

  it("words a refusal in the rule's vocabulary: MetaStudio states, or ICE statuses", () => {
    expect(() => requireState(jobIn("TRAINING"), MAY_SUBMIT, "SUBMITVERIFYING")).toThrow(
      "Job j1 is in state TRAINING; SUBMITVERIFYING is allowed only in WAIT_FILE_UPLOAD, AUTO_VERIFY_FAILED, MANUAL_VERIFY_FAILED",
    );
    expect(() => requireState(jobIn("AUTO_VERIFYING"), MAY_DELETE_ICE, "DeleteAvatarTrainingJob")).toThrow(
      "Job j1 is Queuing (state AUTO_VERIFYING); DeleteAvatarTrainingJob is allowed only when the job is Init or Fail",
    );
    expect(() => requireState(jobIn("WAIT_FILE_UPLOAD"), MAY_SUBMIT, "x")).not.toThrow();
  });
});

describe("stored job options", () => {
  it("reads ICE's fields from their own key, and from the flat keys older versions wrote", () => {
    const ice = { portrait: "m1", thumbnail: "https://t/x.png", transparent: true };
    expect(parseJobOptions(JSON.stringify({ videoMultipartCount: 2, ice })).ice).toEqual(ice);
    const legacy = {
      icePortrait: "m1",
      iceThumbnail: "https://t/x.png",
      iceTransparent: true,
      iceVideo: "v",
    };
    const parsed = parseJobOptions(JSON.stringify(legacy));
    expect(parsed.ice).toEqual(ice);
    expect(Object.keys(parsed)).not.toContain("iceVideo");
  });

  it("drops values of the wrong type and reads damaged JSON as the defaults", () => {
    expect(parseJobOptions(JSON.stringify({ ice: { portrait: 3, transparent: "yes" } })).ice).toBeUndefined();
    expect(parseJobOptions("{not json")).toEqual({ videoMultipartCount: 1, actionVideoMultipartCount: 0 });
  });
});
