/**
 * ICE ListAvatarTrainingJobs through the real `@alicloud/openapi-client` (`callApi`, RPC style, as the
 * generated `@alicloud/ice20201109` client calls it) against a listening Doppel, on both databases and
 * with both signing algorithms the SDK offers: V3 `ACS3-HMAC-SHA256` (default) and RPC v1 HMAC-SHA1
 * (`signatureAlgorithm: "v2"`). Errors are checked as the SDK surfaces them: a ResponseError with
 * `code`, `statusCode`, `message` and the error body in `data`.
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ICE_STATUSES, iceStatusOf } from "../../src/domain/ice-status.js";
import type { JobState } from "../../src/domain/states.js";
import { ENGINES } from "../support/databases.js";
import {
  credentialsOf,
  huaweiClient,
  huaweiListJobs,
  type IceClient,
  type IceSigning,
  iceCall,
  iceClient,
  iceError,
  type SignedRaw,
  sendRaw,
  signAcs3,
  signRpcV1,
} from "../support/sdk-clients.js";
import { startTestServer, type TestServer } from "../support/server.js";

const ITEM_KEYS = [
  "AvatarDescription",
  "AvatarId",
  "AvatarName",
  "AvatarType",
  "CreateTime",
  "FirstTrainingTime",
  "JobId",
  "LastTrainingTime",
  "Message",
  "Portrait",
  "Status",
];
const ERROR_KEYS = ["Code", "HostId", "Message", "Recommend", "RequestId"];
const ICE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const SIGNINGS: readonly IceSigning[] = ["v3", "v2"];

type Item = Record<string, unknown>;

/** Every item of a project's ICE list, page by page (newest first). */
async function listAll(client: IceClient, pageSize: number, query: Record<string, unknown> = {}) {
  const items: Item[] = [];
  const totals: number[] = [];
  for (let page = 1; page < 1000; page++) {
    const res = await iceCall(client, "ListAvatarTrainingJobs", {
      ...query,
      PageNo: page,
      PageSize: pageSize,
    });
    totals.push(res.body.Data.TotalCount);
    items.push(...res.body.Data.AvatarTrainingJobList);
    if (res.body.Data.AvatarTrainingJobList.length < pageSize) break;
  }
  return { items, totals };
}

describe.each(ENGINES)("ICE ListAvatarTrainingJobs through @alicloud/openapi-client on %s", (engine) => {
  let s: TestServer;
  let a: TestServer["projects"][number];
  let b: TestServer["projects"][number];
  /** Project a's jobs as MetaStudio lists them (through the Huawei SDK): id → state. */
  let metaStudioStates: Map<string, JobState>;

  beforeAll(async () => {
    s = await startTestServer(engine);
    [a, b] = s.projects as [typeof a, typeof b];
    const hc = huaweiClient(s, credentialsOf(a.key));
    metaStudioStates = new Map();
    for (let offset = 0; offset < a.jobs; offset += 100) {
      const page = await huaweiListJobs(hc, a.id, { offset, limit: 100 });
      for (const job of page.body.jobs) metaStudioStates.set(String(job.job_id), job.state as JobState);
    }
  });
  afterAll(async () => s?.close());

  describe.each(SIGNINGS)("signed with %s", (signing) => {
    let client: IceClient;

    beforeAll(() => {
      client = iceClient(s, credentialsOf(a.key), signing);
    });

    it("answers {RequestId, Data: {AvatarTrainingJobList, TotalCount}, Success: true} with the documented items", async () => {
      const res = await iceCall(client, "ListAvatarTrainingJobs");
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(["Data", "RequestId", "Success"]);
      expect(res.body.Success).toBe(true);
      expect(res.body.RequestId).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
      expect(Object.keys(res.body.Data).sort()).toEqual(["AvatarTrainingJobList", "TotalCount"]);
      expect(res.body.Data.TotalCount).toBe(a.jobs);
      const list = res.body.Data.AvatarTrainingJobList;
      expect(list).toHaveLength(10);
      for (const item of list) {
        expect(Object.keys(item).sort()).toEqual(ITEM_KEYS);
        for (const key of ITEM_KEYS) expect(typeof item[key], key).toBe("string");
        expect(item.JobId).toMatch(/^[0-9a-f]{32}$/);
        expect(ICE_STATUSES).toContain(item.Status);
        expect(item.AvatarType).toBe("2DAvatar");
        expect(item.AvatarName).not.toBe("");
        expect(item.CreateTime).toMatch(ICE_TIME);
        for (const key of ["FirstTrainingTime", "LastTrainingTime"]) {
          expect(item[key] === "" || ICE_TIME.test(String(item[key])), `${key} ${item[key]}`).toBe(true);
        }
      }
      // Newest first.
      const created = list.map((i) => String(i.CreateTime));
      expect([...created].sort().reverse()).toEqual(created);
    });

    it("also answers the action sent with GET", async () => {
      const res = await iceCall(client, "ListAvatarTrainingJobs", { PageSize: 3 }, { method: "GET" });
      expect(res.status).toBe(200);
      expect(res.body.Data.AvatarTrainingJobList).toHaveLength(3);
    });

    it("pages with PageNo/PageSize over every job exactly once", async () => {
      const { items, totals } = await listAll(client, 35);
      expect(totals.every((t) => t === a.jobs)).toBe(true);
      expect(items).toHaveLength(a.jobs);
      expect(new Set(items.map((i) => i.JobId))).toEqual(new Set(metaStudioStates.keys()));
      const created = items.map((i) => String(i.CreateTime));
      expect([...created].sort().reverse()).toEqual(created);
      const past = await iceCall(client, "ListAvatarTrainingJobs", { PageNo: 99, PageSize: 100 });
      expect(past.body.Data).toEqual({ AvatarTrainingJobList: [], TotalCount: a.jobs });
    });

    it("filters by Status: only that status, and TotalCount is the filtered total", async () => {
      let sum = 0;
      for (const status of ICE_STATUSES) {
        const { items, totals } = await listAll(client, 100, { Status: status });
        const expected = [...metaStudioStates.values()].filter((state) => iceStatusOf(state) === status);
        expect(
          items.every((i) => i.Status === status),
          status,
        ).toBe(true);
        expect(items, status).toHaveLength(expected.length);
        expect(
          totals.every((t) => t === expected.length),
          status,
        ).toBe(true);
        sum += items.length;
      }
      expect(sum).toBe(a.jobs);
    });

    it("shows each job of the project with the ICE status of its MetaStudio state", async () => {
      const { items } = await listAll(client, 100);
      for (const item of items) {
        const state = metaStudioStates.get(String(item.JobId));
        expect(state, `job ${item.JobId} is not in the MetaStudio list`).toBeDefined();
        expect(item.Status, `${item.JobId} ${state}`).toBe(iceStatusOf(state as JobState));
      }
      // And nothing of the other project.
      const other = await listAll(iceClient(s, credentialsOf(b.key), signing), 100);
      expect(other.items).toHaveLength(b.jobs);
      expect(other.items.some((i) => metaStudioStates.has(String(i.JobId)))).toBe(false);
    });

    it.each([0, 101, "abc", -1, "", "99999999999999999999"])(
      "answers PageSize %j with InvalidParameter 400 naming PageSize",
      async (size) => {
        const error = await iceError(iceCall(client, "ListAvatarTrainingJobs", { PageSize: size }));
        expect(error.code).toBe("InvalidParameter");
        expect(error.statusCode).toBe(400);
        expect(error.message).toMatch(/^InvalidParameter: code: 400, .*PageSize/);
        expect(
          Object.keys(error.data ?? {})
            .filter((k) => k !== "statusCode")
            .sort(),
        ).toEqual(ERROR_KEYS);
        expect(String(error.data?.Message)).toContain("Invalid parameter PageSize");
      },
    );

    // Alibaba answers 400 for a PageSize that is not plain decimal digits; lenient coercion would
    // silently list 1 job for 1.5 and 16 for 0x10.
    it.each(["1.5", "1e2", "0x10", " 5", "true"])(
      "answers PageSize=%j with InvalidParameter 400",
      async (size) => {
        const error = await iceError(iceCall(client, "ListAvatarTrainingJobs", { PageSize: size }));
        expect([error.code, error.statusCode]).toEqual(["InvalidParameter", 400]);
        expect(error.message).toMatch(/PageSize/);
      },
    );

    it("answers a bad Status and PageNo with InvalidParameter naming them", async () => {
      const status = await iceError(iceCall(client, "ListAvatarTrainingJobs", { Status: "Normal" }));
      expect([status.code, status.statusCode]).toEqual(["InvalidParameter", 400]);
      expect(status.message).toMatch(/Status/);
      const pageNo = await iceError(iceCall(client, "ListAvatarTrainingJobs", { PageNo: 0 }));
      expect([pageNo.code, pageNo.statusCode]).toEqual(["InvalidParameter", 400]);
      expect(pageNo.message).toMatch(/PageNo/);
    });

    it("answers an unknown Action with InvalidApi.NotFound 404", async () => {
      const error = await iceError(iceCall(client, "ListAvatarTrainingJobz"));
      expect(error.code).toBe("InvalidApi.NotFound");
      expect(error.statusCode).toBe(404);
      expect(error.message).toContain("ListAvatarTrainingJobz");
    });

    it("answers a wrong Version with InvalidVersion 400", async () => {
      const error = await iceError(iceCall(client, "ListAvatarTrainingJobs", {}, { version: "2017-03-21" }));
      expect(error.code).toBe("InvalidVersion");
      expect(error.statusCode).toBe(400);
      expect(error.message).toContain("2020-11-09");
    });

    it("answers a wrong secret with SignatureDoesNotMatch 400", async () => {
      const wrong = iceClient(s, credentialsOf(a.key, { secret: `${a.key.secret_access_key}x` }), signing);
      const error = await iceError(iceCall(wrong, "ListAvatarTrainingJobs"));
      expect(error.code).toBe("SignatureDoesNotMatch");
      expect(error.statusCode).toBe(400);
      expect(error.message).not.toContain(a.key.secret_access_key);
    });

    it("answers an unknown AccessKeyId with InvalidAccessKeyId.NotFound 404", async () => {
      const unknown = iceClient(s, credentialsOf(a.key, { accessKeyId: "LTAINOSUCHKEY0000000" }), signing);
      const error = await iceError(iceCall(unknown, "ListAvatarTrainingJobs"));
      expect(error.code).toBe("InvalidAccessKeyId.NotFound");
      expect(error.statusCode).toBe(404);
    });

    it("answers a replayed request with SignatureNonceUsed 400, and accepts the same call freshly signed", async () => {
      const sign = (): SignedRaw =>
        (signing === "v3" ? signAcs3 : signRpcV1)(s, credentialsOf(a.key), { PageNo: "2", PageSize: "5" });
      const request = sign();
      const first = await sendRaw(request);
      expect(first.status).toBe(200);
      expect((first.body.Data as { AvatarTrainingJobList: unknown[] }).AvatarTrainingJobList).toHaveLength(5);
      const replay = await sendRaw(request);
      expect(replay.status).toBe(400);
      expect(Object.keys(replay.body).sort()).toEqual(ERROR_KEYS);
      expect(replay.body.Code).toBe("SignatureNonceUsed");
      expect((await sendRaw(sign())).status).toBe(200);
    });
  });
});
