import type { ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { partRanges } from "../../src/domain/parts.js";
import { doppel, doppelFails, serve, stopChild } from "../support/cli.js";
import { MP4_HEAD } from "../support/clips.js";

/** A minimal PDF: what a signed consent letter sniffs as. */
const PDF = Buffer.from("%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n");
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

interface ShowJson {
  job_id: string;
  state: string;
  video_multipart_count: number;
  training_video_download_url?: string;
  operation_logs: Array<{ log_type: string; log_description: string }>;
}

/** A port nothing listens on: one the system just handed out and took back. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** `doppel jobs` against a real `doppel serve` (SQLite; the server suites cover PostgreSQL). */
describe("doppel jobs against a running server", () => {
  let dir: string;
  let server: { url: string; child: ChildProcess };
  let projectId: string;
  /** Environment of every CLI call: the server, an access key, and a private TMPDIR for saved URLs. */
  let env: NodeJS.ProcessEnv;
  let token: string;

  /** A ~3 MB file that passes the server's magic-byte check, written under the test's directory. */
  const video = (name: string, bytes = 3 * 1024 * 1024) => {
    const content = Buffer.concat([MP4_HEAD, randomBytes(bytes - MP4_HEAD.length)]);
    const path = join(dir, name);
    writeFileSync(path, content);
    return { path, content };
  };
  const jobs = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
    doppel(["jobs", ...args], { ...env, ...extra });
  const savedUrls = (jobId: string) =>
    (
      JSON.parse(readFileSync(join(dir, "tmp", "doppel-uploads", `${jobId}.json`), "utf8")) as {
        training_video_upload_url: string[];
      }
    ).training_video_upload_url;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "doppel-cli-jobs-"));
    const serverEnv = { DOPPEL_DATA_DIR: join(dir, "data"), DATABASE_URL: "", DOPPEL_LOG_LEVEL: "warn" };
    // The pipeline is tested elsewhere; here submitted jobs stay where the CLI left them.
    const started = await serve(["--processes", "1", "--no-workers"], serverEnv);
    server = started;
    projectId = /Created project "default" \(([0-9a-f]{32})\)/.exec(started.output)?.[1] as string;
    expect(projectId).toBeDefined();
    const key = JSON.parse(await doppel(["key", "create", "--project", projectId, "--json"], serverEnv)) as {
      access_key_id: string;
      secret_access_key: string;
    };
    token = (
      JSON.parse(await doppel(["token", "create", "--project", projectId, "--json"], serverEnv)) as {
        token: string;
      }
    ).token;
    const tmp = join(dir, "tmp");
    env = {
      DOPPEL_ENDPOINT: started.url,
      DOPPEL_PROJECT_ID: projectId,
      DOPPEL_ACCESS_KEY_ID: key.access_key_id,
      DOPPEL_SECRET_ACCESS_KEY: key.secret_access_key,
      DOPPEL_TOKEN: "",
      TMPDIR: tmp,
    };
  });

  afterAll(async () => {
    if (server) await stopChild(server.child);
    rmSync(dir, { recursive: true, force: true });
  });

  it("creates, uploads in 3 parts, submits, shows, lists, and refuses to delete a submitted job", async () => {
    const file = video("flow.mp4");
    const letter = join(dir, "consent.pdf");
    writeFileSync(letter, PDF);
    const created = JSON.parse(
      await jobs([
        ...["create", "--name", "CLI flow", "--parts", "3", "--tag", "cli", "--tag", "e2e"],
        ...["--consent", letter, "--json"],
      ]),
    ) as { job_id: string; training_video_upload_url: string[]; upload_state_file: string };
    expect(created.job_id).toMatch(/^[0-9a-f]{32}$/);
    expect(created.training_video_upload_url).toHaveLength(3);
    expect(savedUrls(created.job_id)).toEqual(created.training_video_upload_url);

    const uploaded = await jobs(["upload", "--job", created.job_id, "--file", file.path]);
    for (const part of [1, 2, 3]) expect(uploaded).toMatch(new RegExp(`^part ${part}/3: sent `, "m"));
    expect(uploaded).toContain(
      `assembled 3 parts: ${file.content.length} bytes, sha256 ${sha256(file.content)}`,
    );

    expect(await jobs(["submit", "--job", created.job_id])).toContain(
      `submitted job ${created.job_id}: AUTO_VERIFYING`,
    );
    const shown = JSON.parse(await jobs(["show", "--job", created.job_id, "--json"])) as ShowJson;
    expect(shown.state).toBe("AUTO_VERIFYING");
    expect(shown.operation_logs.map((l) => l.log_type)).toEqual([
      "CREATE_JOB",
      "UPLOAD_FILE",
      "CONFIRM_MULTIPART_UPLOADED",
      "SUBMITVERIFYING",
    ]);
    expect(await jobs(["show", "--job", created.job_id])).toMatch(/^state: +AUTO_VERIFYING$/m);

    const table = await jobs(["list", "--state", "AUTO_VERIFYING"]);
    const lines = table.trim().split("\n");
    expect(lines[0]).toMatch(/^JOB ID +STATE +CREATED +NAME +BATCH +TAGS$/);
    expect(lines.find((l) => l.startsWith(created.job_id))).toMatch(/AUTO_VERIFYING .*CLI flow .*cli,e2e$/);
    const page = JSON.parse(await jobs(["list", "--limit", "100", "--json"])) as {
      count: number;
      jobs: Array<{ job_id: string }>;
    };
    expect(page.jobs.map((j) => j.job_id)).toContain(created.job_id);

    // Without --consent the job has no grant file, and the server refuses to submit it, saying why.
    const unconsented = JSON.parse(
      await jobs(["create", "--name", "No consent", "--file", video("bare.mp4").path, "--json"]),
    ) as { job_id: string };
    const noConsent = await doppelFails(["jobs", "submit", "--job", unconsented.job_id], env);
    expect(noConsent.code).toBe(1);
    expect(noConsent.stderr).toMatch(/has no consent.*grant_file_upload_url.*\(MSS\.10001004\)/);

    const refused = await doppelFails(["jobs", "delete", "--job", created.job_id], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `doppel: Job ${created.job_id} is in state AUTO_VERIFYING; deleting it is allowed only in WAIT_FILE_UPLOAD`,
    );
    expect(refused.stderr).toContain("(MSS.10002002)");
  }, 90_000);

  it("resumes an upload: only parts the server lacks, or has with other bytes, are sent", async () => {
    const file = video("resume.mp4");
    const { job_id: jobId } = JSON.parse(
      await jobs(["create", "--name", "Resume", "--parts", "3", "--json"]),
    ) as {
      job_id: string;
    };
    // A cut upload: part 1 arrived whole; part 2 holds other bytes (an older attempt); part 3 is missing.
    const urls = savedUrls(jobId);
    const [one] = partRanges(file.content.length, 3);
    const put = (url: string | undefined, body: Buffer) => fetch(url as string, { method: "PUT", body });
    expect((await put(urls[0], file.content.subarray(one?.start, one?.end))).status).toBe(200);
    expect((await put(urls[1], randomBytes(1000))).status).toBe(200);

    const output = await jobs(["upload", "--job", jobId, "--file", file.path, "--parts", "3"]);
    expect(output).toMatch(/^part 1\/3: already uploaded, skipped /m);
    expect(output).toMatch(/^part 2\/3: sent /m);
    expect(output).toMatch(/^part 3\/3: sent /m);

    const shown = JSON.parse(await jobs(["show", "--job", jobId, "--json"])) as ShowJson;
    expect(shown.operation_logs.at(-1)?.log_description).toContain(
      `${file.content.length} bytes, sha256 ${sha256(file.content)}`,
    );
    const download = await fetch(shown.training_video_download_url as string);
    expect(sha256(Buffer.from(await download.arrayBuffer()))).toBe(sha256(file.content));

    // Everything there: a second run sends nothing and assembles the same file again.
    const again = await jobs(["upload", "--job", jobId, "--file", file.path]);
    expect(again.match(/already uploaded, skipped/g)).toHaveLength(3);
    expect(again).toContain(`sha256 ${sha256(file.content)}`);
    expect(await jobs(["delete", "--job", jobId])).toBe(`deleted job ${jobId}\n`);
  }, 90_000);

  it("creates and uploads in one go with an X-Auth-Token", async () => {
    const file = video("one-go.mp4", 1024 * 1024);
    const result = JSON.parse(
      await jobs(["create", "--name", "One go", "--parts", "2", "--file", file.path, "--json"], {
        DOPPEL_ACCESS_KEY_ID: "",
        DOPPEL_SECRET_ACCESS_KEY: "",
        DOPPEL_TOKEN: token,
      }),
    ) as { job_id: string; upload: { size: number; sha256: string; parts: Array<{ status: string }> } };
    expect(result.upload).toMatchObject({ size: file.content.length, sha256: sha256(file.content) });
    expect(result.upload.parts.map((p) => p.status)).toEqual(["sent", "sent"]);
  }, 60_000);

  it("refuses bad input and explains what to do", async () => {
    const closed = await closedPort();
    const none = "0".repeat(32);
    const cases: Array<[args: string[], extra: NodeJS.ProcessEnv, expected: string | RegExp]> = [
      [
        ["list"],
        { DOPPEL_ENDPOINT: `http://127.0.0.1:${closed}` },
        `Doppel is not reachable at http://127.0.0.1:${closed} (connection refused). Start it with \`npx doppel serve\``,
      ],
      [
        ["list"],
        { DOPPEL_ACCESS_KEY_ID: "", DOPPEL_SECRET_ACCESS_KEY: "" },
        /no credentials for .*doppel key create/,
      ],
      [["list"], { DOPPEL_SECRET_ACCESS_KEY: "wrong" }, "signature does not match"],
      [["show", "--job", "nope"], {}, "expected a job id"],
      [["show", "--job", none], {}, `No job "${none}" in this project`],
      [["list", "--limit", "101"], {}, "--limit must be a whole number from 1 to 100"],
      [["list", "--state", "DONE"], {}, "unknown state DONE; states are WAIT_FILE_UPLOAD"],
      [["create", "--name", "x", "--parts", "0"], {}, "--parts must be a whole number from 1 to 1000"],
      [["create", "--name", "x", "--file", join(dir, "missing.mp4")], {}, "does not exist"],
      [
        ["create", "--name", "x", "--file", join(dir, "data", "server.key")],
        {},
        "is of an unrecognised kind; the training video must be one of video/mp4",
      ],
      [
        ["create", "--name", "x", "--consent", join(dir, "data", "server.key")],
        {},
        "is of an unrecognised kind; a consent file must be one of video/mp4, video/quicktime, video/webm, application/pdf",
      ],
      [["upload", "--job", none, "--file", video("v.mp4", 1000).path], {}, "no upload URLs saved for job"],
    ];
    // Independent, so run side by side: each is a process start.
    await Promise.all(
      cases.map(async ([args, extra, expected]) => {
        const result = await doppelFails(["jobs", ...args], { ...env, ...extra });
        expect(result.code, args.join(" ")).toBe(1);
        if (typeof expected === "string") expect(result.stderr).toContain(expected);
        else expect(result.stderr).toMatch(expected);
      }),
    );
  }, 90_000);
});

/** `doppel jobs show --wait` against a server whose workers run the pipeline. */
describe("doppel jobs show --wait", () => {
  let dir: string;
  let server: { url: string; child: ChildProcess } | undefined;

  afterAll(async () => {
    if (server) await stopChild(server.child);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("follows a submitted job step by step until it settles, and exits 1 when it failed", async () => {
    dir = mkdtempSync(join(tmpdir(), "doppel-cli-wait-"));
    const serverEnv = { DOPPEL_DATA_DIR: join(dir, "data"), DATABASE_URL: "", DOPPEL_LOG_LEVEL: "warn" };
    const started = await serve(["--processes", "1", "--verify-policy", "dev"], serverEnv);
    server = started;
    const projectId = /Created project "default" \(([0-9a-f]{32})\)/.exec(started.output)?.[1] as string;
    const { token } = JSON.parse(
      await doppel(["token", "create", "--project", projectId, "--json"], serverEnv),
    ) as {
      token: string;
    };
    const env = {
      DOPPEL_ENDPOINT: started.url,
      DOPPEL_PROJECT_ID: projectId,
      DOPPEL_TOKEN: token,
      TMPDIR: dir,
    };
    // Starts like an MP4, then noise: it passes the upload check and fails verification.
    const file = join(dir, "noise.mp4");
    writeFileSync(file, Buffer.concat([MP4_HEAD, randomBytes(50_000)]));
    const letter = join(dir, "consent.pdf");
    writeFileSync(letter, PDF);
    const created = JSON.parse(
      await doppel(["jobs", "create", "--name", "Wait", "--file", file, "--consent", letter, "--json"], env),
    ) as {
      job_id: string;
    };
    await doppel(["jobs", "submit", "--job", created.job_id], env);
    const waited = await doppelFails(["jobs", "show", "--job", created.job_id, "--wait"], env);
    expect(waited.code).toBe(1);
    expect(waited.stderr).toMatch(
      /SUBMITVERIFYING +WAIT_FILE_UPLOAD → AUTO_VERIFYING\n.*AUTO_VERIFY +not a readable video.*\n +- The training video cannot be read/,
    );
  }, 90_000);
});
