import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { partRanges } from "../../src/domain/parts.js";
import {
  expiryOf,
  forgetUpload,
  loadUpload,
  partsToSend,
  type SavedUpload,
  saveUpload,
  type TabStorage,
} from "../../web/console/src/upload.js";

/** The Web Storage calls the console makes, over a Map (the browser's own is used by the browser test). */
class MemoryStorage implements TabStorage {
  private readonly items = new Map<string, string>();
  getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  removeItem(key: string) {
    this.items.delete(key);
  }
  setItem(key: string, value: string) {
    this.items.set(key, value);
  }
}

const saved: SavedUpload = {
  projectId: "p1",
  jobId: "j1",
  jobName: "Anna",
  video: { name: "anna.mp4", size: 1000, lastModified: 1 },
  videoUrls: ["/uploads/j1/training-video/1?expires=2000000000&signature=x"],
  grantUrl: "/uploads/j1/grant-file?expires=2000000000&signature=y",
  expiresAt: 2_000_000_000_000,
  consentUploaded: false,
};

describe("the console's resumable upload", () => {
  it("after a reload sends only the parts the server lacks, when the same file is picked again", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.integer({ min: 1, max: 50 })),
        (size, parts, present) => {
          const have = new Set(present.filter((p) => p <= parts));
          const send = partsToSend(size, parts, have, true);
          // What is sent and what is there cover the file once: no part twice, none missing.
          expect(send.map((r) => r.partNumber).filter((n) => have.has(n))).toEqual([]);
          expect(send.length + have.size).toBe(parts);
          const covered = [...send, ...partRanges(size, parts).filter((r) => have.has(r.partNumber))]
            .sort((a, b) => a.start - b.start || a.end - b.end)
            .reduce((at, r) => (r.start === at ? r.end : Number.NaN), 0);
          expect(covered).toBe(size);
          // Another file replaces every part, whatever the server holds.
          expect(partsToSend(size, parts, have, false).length).toBe(parts);
        },
      ),
    );
  });

  it("keeps the upload for its project until it expires or is forgotten", () => {
    const storage = new MemoryStorage();
    expect(loadUpload(storage, "p1", 0)).toBeUndefined();
    saveUpload(storage, saved);
    expect(loadUpload(storage, "p1", 0)).toEqual(saved);
    expect(loadUpload(storage, "p2", 0), "another project's upload").toBeUndefined();
    expect(loadUpload(storage, "p1", saved.expiresAt), "expired URLs").toBeUndefined();
    forgetUpload(storage);
    expect(loadUpload(storage, "p1", 0)).toBeUndefined();
    expect(expiryOf(saved.videoUrls[0] as string, 5)).toBe(2_000_000_000_000);
    expect(expiryOf("%%not a url", 5)).toBe(5);
  });

  it("ignores whatever else the storage holds instead of trusting it", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.record({ ...Object.fromEntries(Object.keys(saved).map((k) => [k, fc.anything()])) }),
          fc
            .constantFrom(...Object.keys(saved))
            .chain((k) => fc.anything().map((v) => JSON.stringify({ ...saved, [k]: v }))),
        ),
        (stored) => {
          const storage = new MemoryStorage();
          storage.setItem(
            "doppel.console.upload",
            typeof stored === "string" ? stored : JSON.stringify(stored),
          );
          const loaded = loadUpload(storage, "p1", 0);
          if (loaded !== undefined) {
            expect(typeof loaded.jobId).toBe("string");
            expect(loaded.videoUrls.length).toBeGreaterThan(0);
            expect(Number.isSafeInteger(loaded.video.size)).toBe(true);
          }
        },
      ),
    );
  });
});
