import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_FILTERS, listQuery } from "../../web/console/src/list-query.js";

describe("the console's jobs filters as the list API's query", () => {
  it("leaves out empty fields and sends the rest as MetaStudio names them", () => {
    expect(listQuery(DEFAULT_FILTERS)).toBe("offset=0&limit=20&sort_key=create_time&sort_dir=desc");
    const query = new URLSearchParams(
      listQuery({
        ...DEFAULT_FILTERS,
        states: ["JOB_SUCCESS", "TRAINING"],
        name: "  Anna ",
        batchName: "b1",
        tag: "t",
        createdFrom: "2026-01-02",
        createdTo: "2026-01-31",
        offset: 40,
      }),
    );
    expect(Object.fromEntries(query)).toEqual({
      offset: "40",
      limit: "20",
      sort_key: "create_time",
      sort_dir: "desc",
      state: "JOB_SUCCESS,TRAINING",
      name: "Anna",
      batch_name: "b1",
      tag: "t",
      create_since: "2026-01-02T00:00:00Z",
      create_until: "2026-01-31T23:59:59Z",
    });
  });

  it("keeps paging within the API's bounds and ignores malformed dates, whatever the form holds", () => {
    fc.assert(
      fc.property(fc.double(), fc.double(), fc.string(), fc.string(), (offset, limit, from, to) => {
        const query = new URLSearchParams(
          listQuery({ ...DEFAULT_FILTERS, offset, limit, createdFrom: from, createdTo: to }),
        );
        const o = Number(query.get("offset"));
        const l = Number(query.get("limit"));
        expect(Number.isInteger(o) && o >= 0, String(offset)).toBe(true);
        expect(Number.isInteger(l) && l >= 1 && l <= 100, String(limit)).toBe(true);
        for (const key of ["create_since", "create_until"]) {
          const value = query.get(key);
          if (value !== null) expect(value).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
        }
      }),
    );
  });
});
