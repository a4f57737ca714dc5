/**
 * ICE's event callback through the real `@alicloud/openapi-client` (RPC style, V3 and v2 signing), on
 * both databases: SetEventCallback then GetEventCallback round-trips every field, in ICE's top-level
 * answers (no `Data`); MNS and bad parameters are refused in Alibaba's envelope, never with a 5xx; and
 * a job that ends its training (ICE Fail or Success) reaches a real receiver as ICE's
 * AvatarTrainingComplete callback, signed as ICE documents it — checked here with an md5 of our own.
 */

import { createHash } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_JOB_OPTIONS } from "../../src/domain/job-options.js";
import { EventSender } from "../../src/pipeline/event-sender.js";
import { rejectReview } from "../../src/services/review.service.js";
import { insertJob } from "../../src/store/job.repository.js";
import { moveJob } from "../../src/store/job-transition.repository.js";
import { ENGINES } from "../support/databases.js";
import { newJobRow } from "../support/pipeline.js";
import {
  credentialsOf,
  type IceClient,
  type IceSdkError,
  type IceSigning,
  iceCall,
  iceClient,
  iceError,
} from "../support/sdk-clients.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { type Receiver, startReceiver } from "../support/webhook-receiver.js";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field below
type Body = any;
type Project = TestServer["projects"][number];

const SIGNINGS: readonly IceSigning[] = ["v3", "v2"];
const ERROR_KEYS = ["Code", "HostId", "Message", "Recommend", "RequestId"];
const REQUEST_ID = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;
const ICE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/** ICE's callback signature, computed from its documentation, not from Doppel's code. */
const iceMd5 = (url: string, timestamp: string, authKey: string) =>
  createHash("md5").update(`${url}|${timestamp}|${authKey}`).digest("hex");

/** The SDK error's body without the `statusCode` the SDK adds to it. */
function envelopeKeys(error: IceSdkError): string[] {
  return Object.keys(error.data ?? {})
    .filter((k) => k !== "statusCode")
    .sort();
}

describe.each(ENGINES)("ICE SetEventCallback / GetEventCallback on %s", (engine) => {
  let s: TestServer;
  let a: Project;
  let untouched: Project;
  let fuzzProject: Project;
  let receiver: Receiver;

  beforeAll(async () => {
    s = await startTestServer(engine, [0, 0, 0], {
      DOPPEL_WEBHOOK_ALLOW_NETWORKS: "127.0.0.0/8",
      DOPPEL_CONSENT: "optional",
    });
    [a, untouched, fuzzProject] = s.projects as [Project, Project, Project];
    receiver = await startReceiver("/ice-callback");
  });
  afterAll(async () => {
    await receiver?.close();
    await s?.close();
  });

  const call = (client: IceClient, action: string, query: Record<string, unknown> = {}) =>
    iceCall<Body>(client, action, query);
  const clientOf = (project: Project, signing: IceSigning = "v3") =>
    iceClient(s, credentialsOf(project.key), signing);

  describe.each(SIGNINGS)("signed with %s", (signing) => {
    it("Set answers {RequestId, Success} and Get answers every field back, top-level", async () => {
      const client = clientOf(a, signing);
      const authKey = `Doppel${signing}Key42`;
      const settings = {
        CallbackType: "HTTP",
        CallbackURL: `${receiver.url}?signing=${signing}`,
        EventTypeList: "AvatarTrainingComplete,ProduceMediaComplete",
        AuthSwitch: "on",
        AuthKey: authKey,
      };
      const set = await call(client, "SetEventCallback", settings);
      expect(set.status).toBe(200);
      expect(Object.keys(set.body).sort()).toEqual(["RequestId", "Success"]);
      expect(set.body.Success).toBe(true);
      expect(set.body.RequestId).toMatch(REQUEST_ID);

      const got = await call(client, "GetEventCallback");
      expect(got.status).toBe(200);
      expect(got.body.RequestId).toMatch(REQUEST_ID);
      expect(got.body).toEqual({ RequestId: got.body.RequestId, ...settings });

      // A second Set replaces the first: AuthSwitch off, no key, CallbackType left to its default.
      const plain = { CallbackURL: receiver.url, EventTypeList: "AvatarTrainingComplete", AuthSwitch: "off" };
      expect((await call(client, "SetEventCallback", plain)).body.Success).toBe(true);
      const again = (await call(client, "GetEventCallback")).body;
      expect(again).toEqual({ RequestId: again.RequestId, CallbackType: "HTTP", ...plain });
    });
  });

  it("Get with nothing set answers just RequestId (and no other project's callback)", async () => {
    await call(clientOf(a), "SetEventCallback", {
      CallbackURL: receiver.url,
      EventTypeList: "AvatarTrainingComplete",
    });
    for (const signing of SIGNINGS) {
      const got = await call(clientOf(untouched, signing), "GetEventCallback");
      expect(got.status).toBe(200);
      expect(Object.keys(got.body)).toEqual(["RequestId"]);
      expect(got.body.RequestId).toMatch(REQUEST_ID);
    }
  });

  it("refuses MNS with an ICE error saying MNS queues cannot exist here", async () => {
    for (const signing of SIGNINGS) {
      for (const query of [
        { CallbackType: "MNS", CallbackQueueName: "ice-callback-doppel" },
        {
          CallbackType: "MNS",
          CallbackQueueName: "ice-callback-doppel",
          EventTypeList: "AvatarTrainingComplete",
        },
      ]) {
        const error = await iceError(call(clientOf(a, signing), "SetEventCallback", query));
        expect(error.statusCode).toBe(400);
        expect(error.code).toBe("InvalidParameter");
        expect(envelopeKeys(error)).toEqual(ERROR_KEYS);
        expect(error.data?.RequestId).toMatch(REQUEST_ID);
        expect(String(error.data?.Message)).toMatch(/MNS/);
        expect(String(error.data?.Message)).toMatch(/do not exist/);
      }
    }
  });

  describe("bad parameters are 4xx ICE errors, and change nothing", () => {
    const good = { CallbackURL: "http://127.0.0.1:9/kept", EventTypeList: "AvatarTrainingComplete" };
    let client: IceClient;
    let before: Body;

    beforeAll(async () => {
      client = clientOf(a);
      await call(client, "SetEventCallback", good);
      before = (await call(client, "GetEventCallback")).body;
    });

    const cases: ReadonlyArray<[string, Record<string, string>, string, RegExp]> = [
      [
        "AuthKey without a digit",
        { AuthSwitch: "on", AuthKey: "NoDigitsHere" },
        "InvalidParameter",
        /AuthKey/,
      ],
      [
        "AuthKey without upper case",
        { AuthSwitch: "on", AuthKey: "lower1234" },
        "InvalidParameter",
        /AuthKey/,
      ],
      [
        "AuthKey of 33 characters",
        { AuthSwitch: "on", AuthKey: `Aa1${"b".repeat(30)}` },
        "InvalidParameter",
        /AuthKey/,
      ],
      ["AuthSwitch on without AuthKey", { AuthSwitch: "on" }, "InvalidParameter", /AuthKey/],
      ["AuthSwitch yes", { AuthSwitch: "yes", AuthKey: "Abc123" }, "InvalidParameter", /AuthSwitch/],
      ["AuthSwitch ON", { AuthSwitch: "ON", AuthKey: "Abc123" }, "InvalidParameter", /AuthSwitch/],
      ["CallbackType SMS", { CallbackType: "SMS" }, "InvalidParameter", /CallbackType/],
      [
        "a queue name with HTTP",
        { CallbackQueueName: "ice-callback-x" },
        "InvalidParameter",
        /CallbackQueueName/,
      ],
      [
        "CallbackURL of 257 bytes",
        { CallbackURL: `http://127.0.0.1/${"a".repeat(240)}` },
        "InvalidParameter",
        /256 bytes/,
      ],
      // 137 characters, 257 bytes: the limit is in bytes.
      [
        "CallbackURL of 257 bytes in fewer characters",
        { CallbackURL: `http://127.0.0.1/${"é".repeat(120)}` },
        "InvalidParameter",
        /256 bytes/,
      ],
      ["an ftp CallbackURL", { CallbackURL: "ftp://127.0.0.1/x" }, "InvalidParameter", /http/],
      ["a file CallbackURL", { CallbackURL: "file:///etc/passwd" }, "InvalidParameter", /http/],
      ["a javascript CallbackURL", { CallbackURL: "javascript:alert(1)" }, "InvalidParameter", /http/],
      ["a CallbackURL that is no URL", { CallbackURL: "not a url" }, "InvalidParameter", /URL/],
      [
        "a CallbackURL with a password",
        { CallbackURL: "http://u:p@127.0.0.1/x" },
        "InvalidParameter",
        /password/,
      ],
      ["a private CallbackURL", { CallbackURL: "http://10.1.2.3/cb" }, "InvalidParameter", /private/],
      [
        "a private CallbackURL (192.168)",
        { CallbackURL: "https://192.168.1.10/cb" },
        "InvalidParameter",
        /private/,
      ],
      [
        "a link-local CallbackURL",
        { CallbackURL: "http://169.254.169.254/latest/meta-data" },
        "InvalidParameter",
        /private/,
      ],
      [
        "an IPv6 loopback CallbackURL",
        { CallbackURL: "http://[::1]:8080/cb" },
        "InvalidParameter",
        /private/,
      ],
      [
        "an unspecified-address CallbackURL",
        { CallbackURL: "http://0.0.0.0/cb" },
        "InvalidParameter",
        /private/,
      ],
      ["an empty CallbackURL", { CallbackURL: "" }, "MissingParameter", /CallbackURL/],
      [
        "a bad event type",
        { EventTypeList: "AvatarTrainingComplete,Not An Event" },
        "InvalidParameter",
        /EventTypeList/,
      ],
    ];

    it.each(cases)("%s", async (_name, change, code, message) => {
      for (const signing of SIGNINGS) {
        const error = await iceError(call(clientOf(a, signing), "SetEventCallback", { ...good, ...change }));
        const context = `${signing} ${JSON.stringify(change)} → ${error.message}`;
        expect(error.statusCode, context).toBeGreaterThanOrEqual(400);
        expect(error.statusCode, context).toBeLessThan(500);
        expect(error.code, context).toBe(code);
        expect(envelopeKeys(error), context).toEqual(ERROR_KEYS);
        expect(String(error.data?.Message), context).toMatch(message);
      }
      const after = (await call(client, "GetEventCallback")).body;
      expect({ ...after, RequestId: "" }).toEqual({ ...before, RequestId: "" });
    });

    it("a CallbackURL of exactly 256 bytes is accepted", async () => {
      const url = `http://127.0.0.1/${"é".repeat(119)}${"a".repeat(1)}`;
      expect(Buffer.byteLength(url)).toBe(256);
      expect((await call(client, "SetEventCallback", { ...good, CallbackURL: url })).body.Success).toBe(true);
      expect((await call(client, "GetEventCallback")).body.CallbackURL).toBe(url);
      await call(client, "SetEventCallback", good);
    });
  });

  it("never answers random parameters with a 5xx", async () => {
    const clients = { v3: clientOf(fuzzProject, "v3"), v2: clientOf(fuzzProject, "v2") };
    const text = fc.oneof(
      fc.constantFrom("", " ", "\u0000", "\t", "雪花 ❄", "%", "a&b=c", "\u202e", "null", ",", ",,"),
      fc.constantFrom("HTTP", "MNS", "on", "off", "AvatarTrainingComplete", "Abc123", "ice-callback-q"),
      fc.constantFrom("http://127.0.0.1:9/x", "http://[::1]/", "http://10.0.0.1/", "https://127.0.0.1"),
      fc.string({ maxLength: 80 }),
      fc.string({ unit: "grapheme", maxLength: 40 }),
      fc.string({ unit: "binary", maxLength: 40 }).filter((v) => v.isWellFormed()),
      fc.string({ minLength: 60, maxLength: 600 }),
      fc.string({ maxLength: 40 }).map((path) => `http://127.0.0.1/${path}`),
    );
    const settings = fc.record(
      {
        CallbackType: text,
        CallbackQueueName: text,
        CallbackURL: text,
        EventTypeList: text,
        AuthSwitch: text,
        AuthKey: text,
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { weight: 5, arbitrary: settings.map((query) => ({ action: "SetEventCallback", query })) },
          { weight: 1, arbitrary: settings.map((query) => ({ action: "GetEventCallback", query })) },
        ),
        fc.constantFrom("v3", "v2") as fc.Arbitrary<"v3" | "v2">,
        async ({ action, query }, signing) => {
          try {
            const res = await call(clients[signing], action, query);
            expect(res.status).toBe(200);
            if (action === "SetEventCallback")
              expect(res.body).toEqual({ RequestId: res.body.RequestId, Success: true });
          } catch (caught) {
            const error = caught as IceSdkError;
            const context = `${action} ${JSON.stringify(query).slice(0, 200)} → ${error.message}`;
            expect(error.statusCode, context).toBeGreaterThanOrEqual(400);
            expect(error.statusCode, context).toBeLessThan(500);
            expect(envelopeKeys(error), context).toEqual(ERROR_KEYS);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  describe("callbacks reach a real receiver when a training ends", () => {
    const sender = () => new EventSender(s.t.runtime, { secrets: s.t.runtime.secrets });

    beforeEach(() => {
      receiver.received.length = 0;
      receiver.answer = () => 200;
    });

    /** A job of `a` waiting for review, rejected by an operator: ICE Queuing → Fail. */
    async function failedJob(): Promise<string> {
      const now = s.t.clock.now;
      const job = newJobRow(a.id, now, { name: "Rejected", state: "MANUAL_VERIFYING" });
      await insertJob(s.t.runtime.database.db, job, { options: DEFAULT_JOB_OPTIONS, clientToken: null });
      await rejectReview(s.t.runtime, "Reviewer", job.id, "The face is covered");
      return job.id;
    }

    /** A job of `a` finishing its last stage with an avatar: ICE Training → Success. */
    async function succeededJob(): Promise<{ jobId: string; assetId: string }> {
      const now = s.t.clock.now;
      const job = newJobRow(a.id, now, { name: "Trained", state: "INFERENCE_DATA_PREPROCESSING" });
      const db = s.t.runtime.database.db;
      await insertJob(db, job, { options: DEFAULT_JOB_OPTIONS, clientToken: null });
      const assetId = `${job.id.slice(0, 30)}aa`;
      const moved = await db.transaction().execute((trx) =>
        moveJob(trx, {
          jobId: job.id,
          projectId: a.id,
          from: "INFERENCE_DATA_PREPROCESSING",
          version: 1,
          path: ["JOB_SUCCESS"],
          log: {
            operateUser: "SYSTEM",
            logType: "INFERENCE_DATA_PREPROCESS",
            logDescription: "packaged",
            errorCode: null,
            redoReasons: [],
          },
          patch: { assetId },
          policy: s.t.runtime.config.pipeline,
          now,
        }),
      );
      expect(moved).toBe(true);
      return { jobId: job.id, assetId };
    }

    /** The one POST the receiver got, its ICE signature checked by hand against `authKey`. */
    function signedPost(url: string, authKey: string) {
      expect(receiver.received).toHaveLength(1);
      const [post] = receiver.received;
      const timestamp = post?.headers["x-ice-timestamp"] ?? "";
      expect(timestamp).toMatch(/^\d{10}$/);
      expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(300);
      const signature = post?.headers["x-ice-signature"];
      expect(signature).toMatch(/^[0-9a-f]{32}$/);
      expect(signature).toBe(iceMd5(url, timestamp, authKey));
      // Another key or another URL does not verify.
      expect(signature).not.toBe(iceMd5(url, timestamp, `${authKey}x`));
      expect(signature).not.toBe(iceMd5(`${url}x`, timestamp, authKey));
      return post as NonNullable<typeof post>;
    }

    function checkEnvelope(body: Body, jobId: string, status: "Success" | "Fail") {
      expect(body.EventType).toBe("AvatarTrainingComplete");
      expect(typeof body.UserId).toBe("number");
      expect(Number.isSafeInteger(body.UserId)).toBe(true);
      expect(body.EventTime).toMatch(ICE_TIME);
      expect(Math.abs(Date.parse(body.EventTime) - s.t.clock.now)).toBeLessThan(1000);
      expect(body.MessageBody.JobId).toBe(jobId);
      expect(body.MessageBody.Status).toBe(status);
    }

    it("AuthSwitch on: a Fail is one POST signed md5(callbackURL|timestamp|authKey)", async () => {
      const url = `${receiver.url}?from=doppel`;
      const authKey = "Secret0Key9";
      const client = clientOf(a, "v2");
      const settings = {
        CallbackURL: url,
        EventTypeList: "AvatarTrainingComplete",
        AuthSwitch: "on",
        AuthKey: authKey,
      };
      expect((await call(client, "SetEventCallback", settings)).body.Success).toBe(true);
      const jobId = await failedJob();
      expect(await sender().sendDue()).toBe(1);
      const post = signedPost(url, authKey);
      expect(post.headers["content-type"]).toMatch(/^application\/json/);
      checkEnvelope(post.json, jobId, "Fail");
      expect(post.json.MessageBody.AvatarId).toBeUndefined();
      expect(post.json.MessageBody.Message).toContain("The face is covered");
      // Sent once: nothing is due any more.
      expect(await sender().sendDue()).toBe(0);
      expect(receiver.received).toHaveLength(1);
      // ICE's UserId is the account's, the same on every callback of the project.
      const second = await failedJob();
      receiver.received.length = 0;
      expect(await sender().sendDue()).toBe(1);
      const again = signedPost(url, authKey);
      expect(again.json.MessageBody.JobId).toBe(second);
      expect(again.json.UserId).toBe(post.json.UserId);
    });

    it("AuthSwitch on: a Success is one signed POST naming the avatar", async () => {
      const authKey = "Av4tarKey";
      const settings = {
        CallbackURL: receiver.url,
        EventTypeList: "AvatarTrainingComplete",
        AuthSwitch: "on",
        AuthKey: authKey,
      };
      expect((await call(clientOf(a, "v3"), "SetEventCallback", settings)).body.Success).toBe(true);
      const { jobId, assetId } = await succeededJob();
      expect(await sender().sendDue()).toBe(1);
      const post = signedPost(receiver.url, authKey);
      checkEnvelope(post.json, jobId, "Success");
      expect(post.json.MessageBody.AvatarId).toBe(assetId);
      expect(post.json.MessageBody.Code).toBeUndefined();
    });

    it("AuthSwitch off: the POST carries no X-ICE-* headers", async () => {
      const settings = {
        CallbackURL: receiver.url,
        EventTypeList: "AvatarTrainingComplete",
        AuthSwitch: "off",
        AuthKey: "Unused123",
      };
      expect((await call(clientOf(a), "SetEventCallback", settings)).body.Success).toBe(true);
      const jobId = await failedJob();
      expect(await sender().sendDue()).toBe(1);
      expect(receiver.received).toHaveLength(1);
      const [post] = receiver.received;
      expect(Object.keys(post?.headers ?? {}).filter((name) => name.startsWith("x-ice-"))).toEqual([]);
      checkEnvelope(post?.json, jobId, "Fail");
    });

    it("an EventTypeList without AvatarTrainingComplete: nothing is sent", async () => {
      const settings = {
        CallbackURL: receiver.url,
        EventTypeList: "ProduceMediaComplete",
        AuthSwitch: "on",
        AuthKey: "Abc123",
      };
      expect((await call(clientOf(a), "SetEventCallback", settings)).body.Success).toBe(true);
      await failedJob();
      await succeededJob();
      expect(await sender().sendDue()).toBe(0);
      expect(receiver.received).toEqual([]);
    });
  });
});
