/**
 * `doppel webhook …` and `doppel jobs show --wait` as processes, against a server on a real port
 * (SQLite; the server suites cover PostgreSQL). Deliveries are sent by an EventSender in the test
 * process to a node:http receiver on 127.0.0.1, which the server allows with
 * DOPPEL_WEBHOOK_ALLOW_NETWORKS. `--wait` goes through a recording proxy, which shows that it listened
 * to the event stream, and cuts that stream once to check the resumption with Last-Event-ID.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobState } from "../../src/domain/states.js";
import { EventSender } from "../../src/pipeline/event-sender.js";
import type { Runtime } from "../../src/services/runtime.js";
import { findVersionedJob } from "../../src/store/job.repository.js";
import { moveJob } from "../../src/store/job-transition.repository.js";
import { CLI, doppel, doppelFails } from "../support/cli.js";
import { jobWaitingForTraining } from "../support/pipeline.js";
import { startTestServer, type TestServer } from "../support/server.js";

/** What the receiver got: one POST. */
interface Post {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  // biome-ignore lint/suspicious/noExplicitAny: bodies are inspected field by field
  readonly json: any;
}

/** A webhook receiver on 127.0.0.1 that records each POST and answers `answer(post)`. */
async function startReceiver() {
  const posts: Post[] = [];
  const state = { answer: (_post: Post) => 200 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const post = { path: req.url ?? "", headers: req.headers, body, json: JSON.parse(body) };
      posts.push(post);
      res.writeHead(state.answer(post)).end("ok");
    });
  });
  const url = `http://127.0.0.1:${await listen(server)}/hook`;
  return { url, posts, state, close: () => close(server) };
}

/** A request the proxy passed on. */
interface Seen {
  readonly method: string;
  readonly url: string;
  readonly accept: string | undefined;
  readonly lastEventId: string | undefined;
}

/**
 * A proxy to `target` that records every request; with `cutNextStream` set, it cuts the next event
 * stream right after passing on its first chunk that holds whole events, and keeps their ids in `cut`.
 */
async function startProxy(target: string) {
  const seen: Seen[] = [];
  const control = { cutNextStream: false, cut: [] as string[] };
  const server = createServer((req, res) => {
    const header = (name: string) => req.headers[name] as string | undefined;
    seen.push({
      method: req.method ?? "",
      url: req.url ?? "",
      accept: header("accept"),
      lastEventId: header("last-event-id"),
    });
    // The Host header goes on unchanged: it is signed.
    const upstream = request(new URL(req.url ?? "/", target), { method: req.method, headers: req.headers });
    upstream.on("response", (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      const cut = control.cutNextStream && /^text\/event-stream/.test(answer.headers["content-type"] ?? "");
      if (!cut) return void answer.pipe(res);
      control.cutNextStream = false;
      let passed = "";
      let cutting = false;
      answer.on("data", (chunk: Buffer) => {
        if (cutting) return;
        passed += chunk.toString("utf8");
        const ids = [...passed.matchAll(/^id: (\d+)\n(?:.*\n)*?\n/gm)].map((m) => m[1] as string);
        if (ids.length === 0) return void res.write(chunk);
        cutting = true;
        control.cut = ids;
        // Once the chunk is on its way, the connection drops: no end of the response, just gone.
        res.write(chunk, () => {
          res.destroy();
          upstream.destroy();
        });
      });
    });
    upstream.on("error", () => res.destroy());
    res.on("close", () => upstream.destroy());
    req.pipe(upstream);
  });
  const url = `http://127.0.0.1:${await listen(server)}`;
  return { url, seen, control, close: () => close(server) };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Waits until `check` holds, looking every 20 ms; fails after `ms`, or when `child` exits first. */
async function until(
  what: string,
  check: () => boolean,
  child?: ReturnType<typeof spawnDoppel>,
  ms = 30_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline || child?.child.exitCode != null) {
      throw new Error(
        `${child?.child.exitCode != null ? "exited" : "timed out"} waiting for ${what}; stderr: ${child?.out.stderr}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** `doppel <args>` as a child whose stderr is read as it comes, for `--wait`. */
function spawnDoppel(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [...CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = { stdout: "", stderr: "", lines: [] as Array<{ line: string; at: number }> };
  child.stdout.on("data", (chunk: Buffer) => {
    out.stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    out.stderr += chunk.toString();
    for (const line of chunk.toString().split("\n"))
      if (line !== "") out.lines.push({ line, at: Date.now() });
  });
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    child.once("exit", (code) => resolve({ code, at: Date.now() })),
  );
  return { child, out, exited };
}

const HOUR = 3600 * 1000;
const WEBHOOK_ID = /^created webhook ([0-9a-f]{32}): /m;

describe("doppel webhook against a running server", () => {
  let server: TestServer;
  /** A server without DOPPEL_WEBHOOK_ALLOW_NETWORKS: it refuses loopback URLs. */
  let strict: TestServer;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let runtime: Runtime;
  let dir: string;
  /** Project 0 with its access key (signed requests); `tokenEnv` with its token instead. */
  let env: NodeJS.ProcessEnv;
  let tokenEnv: NodeJS.ProcessEnv;
  const webhook = (args: string[], extra: NodeJS.ProcessEnv = env) => doppel(["webhook", ...args], extra);
  const fails = (args: string[], extra: NodeJS.ProcessEnv = env) => doppelFails(["webhook", ...args], extra);
  /** Sends every due delivery, on a clock past the retry window: a failed attempt is failed for good. */
  const sendDue = () =>
    new EventSender(
      { ...runtime, now: () => server.t.clock.now + 27 * HOUR },
      { secrets: runtime.secrets },
    ).sendDue();
  /** Moves a job from the state it is in along `path`, as a stage would. */
  const move = async (jobId: string, path: JobState[], log: { logType: string; description: string }) => {
    const projectId = server.projects[0]?.id as string;
    const found = await findVersionedJob(runtime.database.db, projectId, jobId);
    if (found === undefined) throw new Error(`no job ${jobId}`);
    const moved = await runtime.database.db.transaction().execute((trx) =>
      moveJob(trx, {
        jobId,
        projectId,
        from: found.job.state,
        version: found.version,
        path,
        log: {
          operateUser: "SYSTEM",
          logType: log.logType,
          logDescription: log.description,
          errorCode: path.at(-1)?.endsWith("FAILED") ? "MSS.TEST" : null,
          redoReasons: path.at(-1)?.endsWith("FAILED") ? ["Record the video again, closer"] : [],
        },
        policy: runtime.config.pipeline,
        now: server.t.clock.now,
      }),
    );
    expect(moved).toBe(true);
  };

  beforeAll(async () => {
    const allow = { DOPPEL_WEBHOOK_ALLOW_NETWORKS: "127.0.0.0/8" };
    [server, strict, receiver] = await Promise.all([
      startTestServer("sqlite", [0, 0], allow),
      startTestServer("sqlite", [0]),
      startReceiver(),
    ]);
    runtime = server.t.runtime;
    dir = mkdtempSync(join(tmpdir(), "doppel-cli-webhooks-"));
    mkdirSync(join(dir, "tmp"));
    const project = server.projects[0];
    const common = {
      DOPPEL_ENDPOINT: server.baseUrl,
      DOPPEL_PROJECT_ID: project?.id,
      TMPDIR: join(dir, "tmp"),
    };
    env = {
      ...common,
      DOPPEL_ACCESS_KEY_ID: project?.key.access_key_id,
      DOPPEL_SECRET_ACCESS_KEY: project?.key.secret_access_key,
      DOPPEL_TOKEN: "",
    };
    tokenEnv = {
      ...common,
      DOPPEL_TOKEN: project?.token,
      DOPPEL_ACCESS_KEY_ID: "",
      DOPPEL_SECRET_ACCESS_KEY: "",
    };
  });

  afterAll(async () => {
    await Promise.all([server?.close(), strict?.close(), receiver?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("creates, lists, shows, rotates the secret of, disables, enables and deletes a webhook", async () => {
    const url = `${receiver.url}/lifecycle`;
    const created = await webhook([
      ...["create", "--url", url, "--events", "job.created,job.state_changed"],
      ...["--description", "CI notifications"],
    ]);
    const id = WEBHOOK_ID.exec(created)?.[1] as string;
    expect(created).toContain(`created webhook ${id}: ${url} (job.created,job.state_changed)`);
    const secret = /^secret: (whsec_\S+)$/m.exec(created)?.[1];
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(created).toContain("The secret is shown only this once");

    const [table, shown, rotated] = await Promise.all([
      webhook(["list"], tokenEnv),
      webhook(["show", "--webhook", id]),
      webhook(["rotate-secret", "--webhook", id]),
    ]);
    const lines = table.trim().split("\n");
    expect(lines[0]).toMatch(/^WEBHOOK ID +STATE +EVENTS +URL +DESCRIPTION$/);
    expect(lines.find((l) => l.startsWith(id))).toMatch(
      new RegExp(`^${id} +enabled +job\\.created,job\\.state_changed +${url} +CI notifications$`),
    );
    expect(table).not.toContain("whsec_");
    expect(shown).toMatch(new RegExp(`^webhook_id: +${id}$`, "m"));
    expect(shown).toMatch(/^state: +enabled$/m);
    expect(shown).toMatch(/^events: +job\.created,job\.state_changed$/m);
    expect(shown).toMatch(/^description: +CI notifications$/m);
    expect(shown).toContain(`next: doppel webhook deliveries --webhook ${id}`);
    expect(shown).not.toContain("whsec_");
    const newSecret = /^new secret of webhook [0-9a-f]{32}: (whsec_\S+)$/m.exec(rotated)?.[1];
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(secret);
    expect(rotated).toMatch(/The previous secret keeps signing beside it until \d{4}-\d\d-\d\dT/);

    expect(JSON.parse(await webhook(["disable", "--webhook", id, "--json"]))).toMatchObject({
      webhook_id: id,
      state: "disabled",
      disabled_reason: "disabled by the user",
    });
    expect(await webhook(["enable", "--webhook", id])).toBe(`webhook ${id} is enabled\n`);
    expect(await webhook(["delete", "--webhook", id])).toBe(`deleted webhook ${id}\n`);
    expect(JSON.parse(await webhook(["list", "--json"]))).toEqual({ count: 0, webhooks: [] });
  }, 60_000);

  it("lists a webhook's deliveries after events were sent, and queues them again with redeliver", async () => {
    const url = `${receiver.url}/deliveries`;
    const created = JSON.parse(await webhook(["create", "--url", url, "--json"])) as {
      webhook_id: string;
      secret: string;
    };
    const id = created.webhook_id;
    const posts = () => receiver.posts.filter((p) => p.path === "/hook/deliveries");
    // Six job.state_changed events; the receiver refuses the one entering MANUAL_VERIFY_SUCCESS.
    receiver.state.answer = (post) => (post.json.data?.new_state === "MANUAL_VERIFY_SUCCESS" ? 503 : 204);
    const jobId = await jobWaitingForTraining(runtime, server.projects[0]?.id as string, server.t.clock.now);
    await sendDue();
    expect(posts()).toHaveLength(6);
    // Signed with the secret `create` printed (Standard Webhooks).
    const verifier = new Webhook(created.secret);
    for (const post of posts()) {
      expect(verifier.verify(post.body, post.headers as Record<string, string>)).toMatchObject({
        type: "job.state_changed",
        data: { job_id: jobId },
      });
    }
    const refused = posts().find((p) => p.json.data.new_state === "MANUAL_VERIFY_SUCCESS")?.json as {
      id: string;
      sequence: number;
    };

    const [table, paged, failed] = await Promise.all([
      webhook(["deliveries", "--webhook", id]).then((text) => text.trim().split("\n")),
      webhook(["deliveries", "--webhook", id, "--limit", "2"]),
      webhook(["deliveries", "--webhook", id, "--state", "failed", "--json"]).then(
        (text) => JSON.parse(text) as { count: number; deliveries: Array<{ event_id: string }> },
      ),
    ]);
    expect(table[0]).toMatch(/^EVENT ID +SEQ +STATE +ATTEMPTS +LAST STATUS +LATENCY +ERROR$/);
    expect(table).toHaveLength(1 + 6 + 1);
    expect(table.at(-1)).toBe("deliveries 1-6 of 6");
    expect(table.filter((l) => / delivered +1 +204 +\d+ ms$/.test(l))).toHaveLength(5);
    expect(table.find((l) => l.startsWith(refused.id))).toMatch(
      new RegExp(`^${refused.id} +${refused.sequence} +failed +1 +503 +\\d+ ms +the receiver answered 503$`),
    );
    expect(paged).toContain("deliveries 1-2 of 6; next page: --offset 2");
    expect(failed).toMatchObject({ count: 1, deliveries: [{ event_id: refused.id, last_status: 503 }] });

    // Every failed one (then there is none left), then one given event; the receiver takes them now.
    receiver.state.answer = () => 200;
    expect(await webhook(["redeliver", "--webhook", id])).toBe(
      `queued 1 failed delivery of webhook ${id} to be sent again\n`,
    );
    const first = posts()[0]?.json.id as string;
    const [none, given] = await Promise.all([
      webhook(["redeliver", "--webhook", id]),
      webhook(["redeliver", "--webhook", id, "--event", first, "--json"]),
    ]);
    expect(none).toBe(`nothing to send again: webhook ${id} has no failed deliveries\n`);
    expect(JSON.parse(given)).toEqual({ queued: 1 });
    await sendDue();
    expect(
      posts()
        .slice(6)
        .map((p) => p.json.id)
        .sort(),
    ).toEqual([refused.id, first].sort());
    await webhook(["delete", "--webhook", id]);
  }, 60_000);

  it("refuses bad input with the server's message and exit code 1", async () => {
    const none = "0".repeat(32);
    const strictEnv = {
      ...tokenEnv,
      DOPPEL_ENDPOINT: strict.baseUrl,
      DOPPEL_PROJECT_ID: strict.projects[0]?.id,
      DOPPEL_TOKEN: strict.projects[0]?.token,
    };
    const cases: Array<[args: string[], expected: string, extra?: NodeJS.ProcessEnv]> = [
      [["show", "--webhook", none], `Webhook ${none} does not exist in this project (MSS.10002008)`],
      [["redeliver", "--webhook", none], `Webhook ${none} does not exist in this project (MSS.10002008)`],
      [
        ["create", "--url", "ftp://127.0.0.1/hook"],
        "Invalid parameter url: must be an http:// or https:// URL (MSS.00000003)",
      ],
      [
        ["create", "--url", "http://127.0.0.1:9/hook"],
        "Invalid parameter url: its host 127.0.0.1 is 127.0.0.1, a private, loopback or link-local address; an operator can allow it with DOPPEL_WEBHOOK_ALLOW_NETWORKS",
        strictEnv,
      ],
      [
        ["create", "--url", receiver.url, "--events", "job.created,job.exploded"],
        "unknown event type job.exploded; event types are job.created, job.state_changed, job.deleted, asset.published",
      ],
      [["show", "--webhook", "nope"], "expected a webhook id: 32 lowercase hexadecimal characters"],
      [["deliveries", "--webhook", none, "--state", "lost"], 'unknown state "lost"; a delivery is pending'],
    ];
    await Promise.all(
      cases.map(async ([args, expected, extra]) => {
        const result = await fails(args, extra ?? env);
        expect(result.code, args.join(" ")).toBe(1);
        expect(result.stderr, args.join(" ")).toContain(expected);
      }),
    );
  }, 60_000);

  describe("jobs show --wait", () => {
    let proxy: Awaited<ReturnType<typeof startProxy>>;
    let waitEnv: NodeJS.ProcessEnv;
    const streamRequests = (jobId: string) =>
      proxy.seen.filter((s) => s.url.includes(`/doppel/events?job_id=${jobId}`));

    beforeAll(async () => {
      proxy = await startProxy(server.baseUrl);
      waitEnv = { ...env, DOPPEL_ENDPOINT: proxy.url };
    });

    afterAll(async () => {
      await proxy?.close();
    });

    it("follows a job over the event stream, printing each step as it happens, and exits when it settles", async () => {
      const jobId = await jobWaitingForTraining(
        runtime,
        server.projects[0]?.id as string,
        server.t.clock.now,
      );
      const waiting = spawnDoppel(["jobs", "show", "--job", jobId, "--wait"], waitEnv);
      await until("the stream", () => streamRequests(jobId).length === 1, waiting);
      await until(
        "the history so far",
        () => waiting.out.stderr.includes("TRAINING_DATA_PREPROCESSING → TRAINING_DATA_PREPROCESS_SUCCESS"),
        waiting,
      );

      let moved = Date.now();
      await move(jobId, ["TRAINING"], { logType: "TRAINING", description: "training started" });
      await until("the TRAINING step", () => waiting.out.stderr.includes("training started"), waiting);
      const started = waiting.out.lines.find((l) => l.line.includes("training started"));
      // The stream looks for events every 250 ms; a 2 s polling loop would take up to 2 s (and the
      // requests below show there was none).
      expect((started?.at ?? Number.POSITIVE_INFINITY) - moved).toBeLessThan(2000);

      moved = Date.now();
      await move(jobId, ["TRAIN_FAILED"], { logType: "TRAIN", description: "the trainer gave up" });
      const exited = await waiting.exited;
      expect(exited.at - moved).toBeLessThan(2000);
      expect(exited.code).toBe(1);
      expect(waiting.out.stdout).toMatch(/^state: +TRAIN_FAILED$/m);
      expect(waiting.out.stderr).toMatch(
        /TRAINING +training started\n.*TRAIN +the trainer gave up\n +- Record the video again, closer\n$/,
      );
      expect(waiting.out.stderr.match(/training started/g)).toHaveLength(1);

      // It listened to the stream, signed, once; it asked for the job only when something happened.
      expect(streamRequests(jobId)).toEqual([
        {
          method: "GET",
          url: `/v1/${server.projects[0]?.id}/doppel/events?job_id=${jobId}`,
          accept: "text/event-stream",
          lastEventId: undefined,
        },
      ]);
      const jobReads = proxy.seen.filter((s) => s.method === "GET" && s.url.endsWith(`/jobs/${jobId}`));
      expect(jobReads.length).toBeLessThanOrEqual(5);
    }, 60_000);

    it("reconnects a cut stream with Last-Event-ID and misses nothing that happened meanwhile", async () => {
      const jobId = await jobWaitingForTraining(
        runtime,
        server.projects[0]?.id as string,
        server.t.clock.now,
      );
      proxy.control.cutNextStream = true;
      const waiting = spawnDoppel(["jobs", "show", "--job", jobId, "--wait"], waitEnv);
      await until("the cut", () => waiting.out.stderr.includes("(event stream interrupted"), waiting);
      const lastId = proxy.control.cut.at(-1) as string;
      expect(waiting.out.stderr).toContain(`reconnecting in 2.0 s after event ${lastId})`);
      // While it is away, the job moves on; it must see that when it is back.
      await move(jobId, ["TRAINING", "TRAIN_SUCCESS", "INFERENCE_DATA_PREPROCESSING", "JOB_SUCCESS"], {
        logType: "TRAINING",
        description: "trained without a pause",
      });
      const exited = await waiting.exited;
      expect(exited.code).toBe(0);
      expect(waiting.out.stdout).toMatch(/^state: +JOB_SUCCESS$/m);
      expect(waiting.out.stderr).toMatch(
        /TRAINING +trained without a pause\n.*TRAIN_SUCCESS +TRAINING → TRAIN_SUCCESS\n.*\n.*JOB_SUCCESS +INFERENCE_DATA_PREPROCESSING → JOB_SUCCESS\n$/,
      );
      expect(waiting.out.stderr.match(/trained without a pause/g)).toHaveLength(1);
      expect(streamRequests(jobId).map((s) => s.lastEventId)).toEqual([undefined, lastId]);
    }, 60_000);
  });
});
