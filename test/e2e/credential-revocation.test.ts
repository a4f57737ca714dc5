/**
 * Credentials can be listed (never their secrets) and revoked with the `doppel` command, and a revoked
 * access key, X-Auth-Token or operator token is refused by every server process within 5 seconds, even
 * by a process that had just used (and cached) it. Two `doppel serve` processes on one database, the
 * CLI from source, on both databases.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { doppel, doppelFails, serve, stopChild } from "../support/cli.js";
import { createPostgresDatabase, ENGINES } from "../support/databases.js";
import { huaweiClient, huaweiListJobs } from "../support/sdk-clients.js";
import type { TestServer } from "../support/server.js";

/** The functional bound: how long a revoked credential may still work anywhere. */
const REVOCATION_BOUND_MS = 5_000;

interface Key {
  access_key_id: string;
  secret_access_key: string;
  project_id: string;
}

describe.each(ENGINES)("listing and revoking credentials on %s", (engine) => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let dropDatabase: (() => Promise<void>) | undefined;
  let servers: Array<Awaited<ReturnType<typeof serve>>> = [];
  let projectId: string;

  const json = async <T>(args: string[]): Promise<T> =>
    JSON.parse(await doppel([...args, "--json"], env)) as T;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "doppel-revoke-"));
    let databaseUrl = "";
    if (engine === "postgres") {
      const database = await createPostgresDatabase("doppel_revoke");
      databaseUrl = database.url;
      dropDatabase = database.drop;
    }
    env = { DOPPEL_DATA_DIR: dataDir, DATABASE_URL: databaseUrl, DOPPEL_DATABASE_URL: databaseUrl };
    // The project first: two servers starting on an empty database would each make a default one.
    projectId = (await json<{ project_id: string }>(["project", "create", "--name", "acme"])).project_id;
    servers = await Promise.all([1, 2].map(() => serve(["--processes", "1", "--no-workers"], env)));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(servers.map((server) => stopChild(server.child)));
    await dropDatabase?.();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The status of a list call with an access key (signed by the Huawei SDK), a token or an operator token. */
  async function statusWith(
    url: string,
    credential: { key: Key } | { token: string } | { adminToken: string },
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    if ("key" in credential) {
      const client = huaweiClient({ baseUrl: url } as TestServer, {
        accessKeyId: credential.key.access_key_id,
        secret: credential.key.secret_access_key,
        projectId: credential.key.project_id,
      });
      try {
        const result = await huaweiListJobs(client, credential.key.project_id);
        return { status: result.status, body: result.body as unknown as Record<string, unknown> };
      } catch (error) {
        const e = error as { httpStatusCode?: number; errorCode?: string; errorMsg?: string };
        return { status: e.httpStatusCode ?? 0, body: { error_code: e.errorCode, error_msg: e.errorMsg } };
      }
    }
    const res =
      "token" in credential
        ? await fetch(`${url}/v1/${projectId}/digital-human-training-manage/user/jobs`, {
            headers: { "X-Auth-Token": credential.token },
          })
        : await fetch(`${url}/admin/v1/reviews`, {
            headers: { Authorization: `Bearer ${credential.adminToken}` },
          });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it("lists a project's access keys with their status and last use, never their secrets", async () => {
    const key = await json<Key>(["key", "create", "--project", projectId]);
    const other = await json<Key>(["key", "create", "--project", projectId]);
    expect((await statusWith(servers[0]?.url ?? "", { key })).status).toBe(200);

    const listed = await json<Array<Record<string, unknown>>>(["key", "list", "--project", projectId]);
    const text = await doppel(["key", "list", "--project", projectId], env);
    for (const output of [JSON.stringify(listed), text]) {
      expect(output).not.toContain(key.secret_access_key);
      expect(output).not.toContain(other.secret_access_key);
    }
    const mine = listed.find((k) => k.access_key_id === key.access_key_id);
    expect(mine).toMatchObject({ project_id: projectId, status: "active", revoked_at: null });
    expect(String(mine?.created_at)).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    // Last use is recorded shortly after the call (without delaying it), to the minute.
    await expect
      .poll(async () => {
        const again = await json<Array<Record<string, unknown>>>(["key", "list", "--project", projectId]);
        return again.find((k) => k.access_key_id === key.access_key_id)?.last_used_at;
      })
      .toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(listed.find((k) => k.access_key_id === other.access_key_id)?.last_used_at).toBeNull();
    expect(text).toContain(key.access_key_id);
    expect(text).toMatch(/active/);
  }, 60_000);

  it("refuses a revoked key, token and operator token in every server process within 5 seconds", async () => {
    const key = await json<Key>(["key", "create", "--project", projectId]);
    const { token } = await json<{ token: string }>(["token", "create", "--project", projectId]);
    const { token: adminToken } = await json<{ token: string }>([
      "admin-token",
      "create",
      "--name",
      "revoke-me",
      "--expires-in-days",
      "2",
    ]);
    const credentials = [{ key }, { token }, { adminToken }] as const;
    // Both processes use (and so cache) every credential first.
    for (const server of servers) {
      for (const credential of credentials) {
        const { status, body } = await statusWith(server.url, credential);
        expect(status, `${JSON.stringify(Object.keys(credential))} ${JSON.stringify(body)}`).toBe(200);
      }
    }

    /**
     * Asks one server with one credential until it is refused. The promise: no request sent more than
     * 5 s after the revocation is accepted (measured from when the revoke command returned, a little
     * after the revocation was written).
     */
    async function untilRefused(url: string, credential: (typeof credentials)[number], revokedAt: number) {
      const context = `${url}, ${Object.keys(credential)[0]}`;
      for (;;) {
        const sentAfter = Date.now() - revokedAt;
        const answer = await statusWith(url, credential);
        if (answer.status !== 200) {
          expect(answer.status, context).toBe(401);
          expect(answer.body.error_code, context).toBe("MSS.00010008");
          return;
        }
        expect(sentAfter, `${context}: accepted ${sentAfter} ms after the revocation`).toBeLessThanOrEqual(
          REVOCATION_BOUND_MS,
        );
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }

    const revocations: Array<[string[], (typeof credentials)[number]]> = [
      [["key", "revoke", "--access-key", key.access_key_id], { key }],
      [["token", "revoke", "--token", token], { token }],
      [["admin-token", "revoke", "--name", "revoke-me"], { adminToken }],
    ];
    const watching: Promise<void>[] = [];
    for (const [command, credential] of revocations) {
      await doppel(command, env);
      const revokedAt = Date.now();
      // Both processes are asked at once, while the next revocation runs.
      for (const server of servers) {
        const watch = untilRefused(server.url, credential, revokedAt);
        watch.catch(() => {}); // reported by Promise.all below, not as an unhandled rejection meanwhile
        watching.push(watch);
      }
    }
    await Promise.all(watching);

    const keys = await json<Array<Record<string, unknown>>>(["key", "list", "--project", projectId]);
    expect(keys.find((k) => k.access_key_id === key.access_key_id)).toMatchObject({
      status: "revoked",
      revoked_at: expect.stringMatching(/Z$/),
    });
    const operators = await json<Array<Record<string, unknown>>>(["admin-token", "list"]);
    expect(operators.filter((o) => o.name === "revoke-me")).toEqual([
      expect.objectContaining({ status: "revoked", revoked_at: expect.stringMatching(/Z$/) }),
    ]);
    expect(JSON.stringify(operators)).not.toContain(adminToken);
  }, 120_000);

  it("gives operator tokens an expiry and lists them without the token", async () => {
    const before = Date.now();
    const created = await json<{ token: string; name: string; expires_at: string }>([
      "admin-token",
      "create",
      "--name",
      "short-lived",
      "--expires-in-days",
      "3",
    ]);
    const expires = Date.parse(created.expires_at);
    expect(expires).toBeGreaterThanOrEqual(before + 3 * 86_400_000 - 1_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 3 * 86_400_000 + 1_000);
    const listed = await json<Array<Record<string, unknown>>>(["admin-token", "list"]);
    expect(listed.find((o) => o.name === "short-lived")).toMatchObject({
      status: "active",
      expires_at: created.expires_at.replace(/\.\d{3}Z$/, "Z"),
    });
    const text = await doppel(["admin-token", "list"], env);
    expect(text).toContain("short-lived");
    expect(text).not.toContain(created.token);
    const bad = await doppelFails(["admin-token", "create", "--name", "x", "--expires-in-days", "0"], env);
    expect(bad.stderr).toMatch(/--expires-in-days must be a whole number from 1 to 3650/);
  }, 60_000);

  it("says so when there is nothing to revoke", async () => {
    const key = await doppelFails(["key", "revoke", "--access-key", "NOSUCHKEY0000000000"], env);
    expect(key.stderr).toMatch(/no access key NOSUCHKEY0000000000/);
    const token = await doppelFails(["token", "revoke", "--token", "dpl_nope"], env);
    expect(token.stderr).toMatch(/no such X-Auth-Token/);
    const admin = await doppelFails(["admin-token", "revoke", "--name", "nobody"], env);
    expect(admin.stderr).toMatch(/no active operator token named "nobody"/);
  }, 60_000);

  it("answers a signed request without X-Sdk-Date with 401 in MetaStudio's envelope", async () => {
    const res = await fetch(`${servers[0]?.url}/v1/${projectId}/digital-human-training-manage/user/jobs`, {
      headers: {
        Authorization: `SDK-HMAC-SHA256 Access=SOMEKEY, SignedHeaders=host, Signature=${"0".repeat(64)}`,
      },
    });
    expect(res.status).toBe(401);
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["error_code", "error_msg"]);
    expect(body.error_code).toBe("MSS.00010008");
    expect(String(body.error_msg)).toContain("X-Sdk-Date");
  });
});
