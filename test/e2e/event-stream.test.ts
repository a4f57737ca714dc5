/**
 * The live event stream (Server-Sent Events) on a real port: events as they commit, resume with
 * Last-Event-ID, one job's events only, heartbeats while nothing happens, the API's authentication,
 * and a server close that ends open streams instead of waiting on them.
 */
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENGINES } from "../support/databases.js";
import { within } from "../support/raw-http.js";
import { startTestServer, type TestServer, tokenApi } from "../support/server.js";

// biome-ignore lint/suspicious/noExplicitAny: bodies are inspected field by field
type Body = any;

/** An open stream: the messages and comments read so far, and a way to wait for more. */
interface Stream {
  readonly messages: EventSourceMessage[];
  readonly comments: string[];
  readonly status: number;
  readonly contentType: string | null;
  waitFor(count: number, what: string): Promise<void>;
  close(): void;
  readonly ended: Promise<void>;
}

async function openStream(url: string, headers: Record<string, string>): Promise<Stream> {
  const abort = new AbortController();
  const res = await fetch(url, {
    headers: { Accept: "text/event-stream", ...headers },
    signal: abort.signal,
  });
  const messages: EventSourceMessage[] = [];
  const comments: string[] = [];
  const parser = createParser({
    onEvent: (message) => messages.push(message),
    onComment: (comment) => comments.push(comment),
  });
  const reader = res.body?.getReader();
  const decoder = new TextDecoder();
  const ended = (async () => {
    try {
      for (;;) {
        const chunk = await reader?.read();
        if (!chunk || chunk.done) return;
        parser.feed(decoder.decode(chunk.value, { stream: true }));
      }
    } catch {
      // aborted
    }
  })();
  return {
    messages,
    comments,
    status: res.status,
    contentType: res.headers.get("content-type"),
    ended,
    close: () => abort.abort(),
    waitFor: (count, what) =>
      within(
        10_000,
        what,
        (async () => {
          while (messages.length < count) await new Promise((r) => setTimeout(r, 20));
        })(),
      ),
  };
}

describe.each(ENGINES)("the event stream, on %s", (engine) => {
  let s: TestServer;
  let project: TestServer["projects"][number];
  let eventsUrl: string;

  beforeAll(async () => {
    s = await startTestServer(engine, [0, 0], { DOPPEL_EVENTS_HEARTBEAT_SECONDS: "1" });
    project = s.projects[0] as TestServer["projects"][number];
    eventsUrl = `${s.baseUrl}/v1/${project.id}/doppel/events`;
  });
  afterAll(async () => s?.close());

  const auth = () => ({ "X-Auth-Token": project.token });
  const jobsUrlOf = () => `${s.baseUrl}/v1/${project.id}/digital-human-training-manage/user/jobs`;
  const create = async (name: string) => {
    const res = await tokenApi(s, project)<{ job_id: string }>("POST", "", { name });
    expect(res.status).toBe(200);
    return res.body.job_id;
  };

  it("sends each event as it commits, and resumes after the Last-Event-ID it is given", async () => {
    const stream = await openStream(eventsUrl, auth());
    expect(stream.status).toBe(200);
    expect(stream.contentType).toMatch(/^text\/event-stream/);
    const first = await create("streamed one");
    const second = await create("streamed two");
    await stream.waitFor(2, "two events");
    stream.close();
    const [a, b] = stream.messages.map((m) => ({ ...m, body: JSON.parse(m.data) as Body }));
    expect([a?.event, a?.body.data.job_id, b?.event, b?.body.data.job_id]).toEqual([
      "job.created",
      first,
      "job.created",
      second,
    ]);
    expect(a?.id).toBe(String(a?.body.sequence));

    // Events that happen while the client is away are sent when it comes back with its last id.
    expect((await tokenApi(s, project)("DELETE", `/${first}`)).status).toBe(200);
    const resumed = await openStream(eventsUrl, { ...auth(), "Last-Event-ID": a?.id ?? "" });
    await resumed.waitFor(2, "the missed events");
    resumed.close();
    expect(resumed.messages.slice(0, 2).map((m) => [m.event, JSON.parse(m.data).data.job_id])).toEqual([
      ["job.created", second],
      ["job.deleted", first],
    ]);
  });

  it("streams one job's events only, when asked for a job", async () => {
    const mine = await create("mine");
    const stream = await openStream(`${eventsUrl}?job_id=${mine}`, auth());
    await create("not mine");
    expect((await tokenApi(s, project)("DELETE", `/${mine}`)).status).toBe(200);
    await stream.waitFor(2, "the job's two events");
    await new Promise((r) => setTimeout(r, 400));
    stream.close();
    expect(stream.messages.map((m) => [m.event, JSON.parse(m.data).data.job_id])).toEqual([
      ["job.created", mine],
      ["job.deleted", mine],
    ]);
  });

  it("writes a heartbeat comment while nothing happens", async () => {
    const stream = await openStream(`${eventsUrl}?after=999999`, auth());
    await within(
      5000,
      "a heartbeat",
      (async () => {
        while (!stream.comments.some((c) => c.includes("heartbeat")))
          await new Promise((r) => setTimeout(r, 50));
      })(),
    );
    stream.close();
    expect(stream.messages).toEqual([]);
  });

  it("pages events as JSON without the stream header", async () => {
    const job = await create("paged");
    const res = await fetch(`${eventsUrl}?job_id=${job}`, { headers: auth() });
    const body = (await res.json()) as Body;
    expect(res.status).toBe(200);
    expect(body.events.map((e: Body) => e.type)).toEqual(["job.created"]);
    expect(body.last_sequence).toBe(body.events[0].sequence);
    const after = await fetch(`${eventsUrl}?job_id=${job}&after=${body.last_sequence}`, { headers: auth() });
    expect(((await after.json()) as Body).events).toEqual([]);
  });

  it("needs the API's credentials, and shows no other project's jobs", async () => {
    const anonymous = await fetch(eventsUrl, { headers: { Accept: "text/event-stream" } });
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as Body).error_code).toBe("MSS.00010008");
    const other = s.projects[1] as TestServer["projects"][number];
    const theirs = await tokenApi(s, other)<{ job_id: string }>("POST", "", { name: "theirs" });
    const res = await fetch(`${eventsUrl}?job_id=${theirs.body.job_id}`, {
      headers: { ...auth(), Accept: "text/event-stream" },
    });
    expect(res.status).toBe(404);
    const badCursor = await fetch(eventsUrl, { headers: { ...auth(), "Last-Event-ID": "yesterday" } });
    expect(badCursor.status).toBe(400);
  });

  it("keeps one end user (X-App-UserId) to their own jobs' events, and out of the project's webhooks", async () => {
    const asUser = (user: string) => ({ ...auth(), "X-App-UserId": user });
    const theirs = await fetch(jobsUrlOf(), {
      method: "POST",
      headers: { ...asUser("user-b"), "Content-Type": "application/json" },
      body: JSON.stringify({ name: "user b's" }),
    });
    const theirJob = ((await theirs.json()) as Body).job_id;
    // The project-wide page or stream would show every end user's jobs: refused.
    const page = await fetch(eventsUrl, { headers: asUser("user-a") });
    expect(page.status).toBe(403);
    expect(((await page.json()) as Body).error_msg).toMatch(/X-App-UserId/);
    // Another end user's job is not found; one's own is streamed.
    expect((await fetch(`${eventsUrl}?job_id=${theirJob}`, { headers: asUser("user-a") })).status).toBe(404);
    const own = await fetch(`${eventsUrl}?job_id=${theirJob}`, { headers: asUser("user-b") });
    expect(((await own.json()) as Body).events.map((e: Body) => e.data.job_id)).toEqual([theirJob]);
    const hooks = await fetch(`${s.baseUrl}/v1/${project.id}/doppel/webhooks`, { headers: asUser("user-a") });
    expect(hooks.status).toBe(403);
    const oneHook = await fetch(`${s.baseUrl}/v1/${project.id}/doppel/webhooks/${"0".repeat(32)}`, {
      headers: asUser("user-a"),
    });
    expect(oneHook.status).toBe(403);
  });

  it("ends open streams when the server closes, instead of waiting on them", async () => {
    const own = await startTestServer(engine, [0], {});
    const p = own.projects[0] as TestServer["projects"][number];
    const stream = await openStream(`${own.baseUrl}/v1/${p.id}/doppel/events`, { "X-Auth-Token": p.token });
    const started = Date.now();
    await own.close();
    await within(5000, "the stream ending", stream.ended);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
