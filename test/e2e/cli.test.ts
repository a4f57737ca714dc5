import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { doppel, doppelFails, serve, stopChild } from "../support/cli.js";

describe("the doppel command on the embedded default", () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), "doppel-cli-"));
    env = { DOPPEL_DATA_DIR: dataDir, DATABASE_URL: "" };
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("creates projects, keys and tokens, and seeds jobs, with or without a running server", async () => {
    const project = JSON.parse(await doppel(["project", "create", "--name", "acme", "--json"], env)) as {
      project_id: string;
    };
    expect(project.project_id).toMatch(/^[0-9a-f]{32}$/);
    // The server key is generated once, owner-only.
    expect(statSync(join(dataDir, "server.key")).mode & 0o777).toBe(0o600);

    const server = await serve([], env);
    try {
      // With a project already there, serve offers it instead of creating "default".
      expect(server.output).toContain(`doppel key create --project ${project.project_id}`);
      // The banner points at the API reference, and it is there.
      expect(server.output).toContain(`Reference:  ${server.url}/docs`);
      expect((await fetch(`${server.url}/docs`)).status).toBe(200);
      const key = JSON.parse(
        await doppel(["key", "create", "--project", project.project_id, "--json"], env),
      ) as Record<string, string>;
      expect(Object.keys(key).sort()).toEqual(["access_key_id", "project_id", "secret_access_key"]);
      expect(key.project_id).toBe(project.project_id);
      const token = JSON.parse(
        await doppel(["token", "create", "--project", project.project_id, "--json"], env),
      ) as { token: string };
      expect(await doppel(["seed", "--project", project.project_id, "--jobs", "25"], env)).toMatch(
        /seeded 25 jobs/,
      );

      const res = await fetch(
        `${server.url}/v1/${project.project_id}/digital-human-training-manage/user/jobs?limit=100`,
        {
          headers: { "X-Auth-Token": token.token },
        },
      );
      expect(res.status).toBe(200);
      expect(((await res.json()) as { count: number }).count).toBe(25);
    } finally {
      await stopChild(server.child);
    }
    const text = await doppel(["project", "list"], env);
    expect(text.trim().split("\n")).toEqual([`${project.project_id}  acme`]);
  });

  it("serves from several HTTP processes sharing one port and stops them all", async () => {
    const project = JSON.parse(await doppel(["project", "create", "--name", "multi", "--json"], env)) as {
      project_id: string;
    };
    const token = JSON.parse(
      await doppel(["token", "create", "--project", project.project_id, "--json"], env),
    ) as {
      token: string;
    };
    await doppel(["seed", "--project", project.project_id, "--jobs", "12"], env);
    const server = await serve(["--processes", "2"], env);
    try {
      expect(server.output).toContain("2 HTTP processes");
      const url = `${server.url}/v1/${project.project_id}/digital-human-training-manage/user/jobs`;
      // Fresh connections, so both processes take some of them; every answer must be the same.
      const counts = await Promise.all(
        Array.from({ length: 20 }, async () => {
          const res = await fetch(url, { headers: { "X-Auth-Token": token.token, Connection: "close" } });
          return ((await res.json()) as { count: number }).count;
        }),
      );
      expect(counts).toEqual(Array(20).fill(12));
    } finally {
      await stopChild(server.child);
    }
    expect(server.child.exitCode).toBe(0);
  });

  it("says what is wrong with bad admin input", async () => {
    const missing = await doppelFails(
      ["key", "create", "--project", "0123456789abcdef0123456789abcdef"],
      env,
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/project 0123456789abcdef0123456789abcdef does not exist/);
    const badJobs = await doppelFails(["seed", "--project", "x", "--jobs", "many"], env);
    expect(badJobs.stderr).toMatch(/--jobs must be a positive whole number/);
    const badProcesses = await doppelFails(["serve", "--processes", "0"], env);
    expect(badProcesses.stderr).toMatch(/processes must be a whole number from 1 to 256/);
    const noBucket = await doppelFails(["migrate"], { ...env, DOPPEL_BLOB_STORE: "s3" });
    expect(noBucket.stderr).toMatch(/DOPPEL_S3_BUCKET is required/);
    const badStore = await doppelFails(["migrate", "--blob-store", "ftp"], env);
    expect(badStore.stderr).toMatch(/blob store must be local or s3/);
    const badUrl = await doppelFails(["migrate"], { ...env, DATABASE_URL: "mysql://nope" });
    expect(badUrl.stderr).toMatch(/database URL must start with postgres/);
  });

  it("refuses to start with pipeline settings it cannot use, saying which", async () => {
    const policy = await doppelFails(["serve", "--verify-policy", "strict"], env);
    expect(policy).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/verify policy must be default, dev or a \.json file/),
    });
    const review = await doppelFails(["worker", "--review", "sometimes"], env);
    expect(review.stderr).toMatch(/review must be auto or manual/);
    const trainer = await doppelFails(["worker", "--trainer-command", "python3 train.py"], env);
    expect(trainer.stderr).toMatch(/must name \{input\} and \{output\}/);
    const stages = await doppelFails(["worker", "--stages", "verify,dance"], env);
    expect(stages.stderr).toMatch(
      /stages must be among verify, review, preprocess, train, package \(got "dance"\)/,
    );
  });
});
