/**
 * The console in a real browser: Debian's Chromium driven by playwright-core (nothing downloaded),
 * against a real server. Screenshots go to a folder the test prints; axe-core scans each page.
 * CI installs Chromium (.ci/run); elsewhere the browser tests run when /usr/bin/chromium exists.
 */

import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_JOB_OPTIONS } from "../../src/domain/job-options.js";
import { blobStoreOrigins, consoleHeaders } from "../../src/http/console/routes.js";
import { createAdminToken } from "../../src/services/admin-tokens.service.js";
import { findVersionedJobById, insertJob } from "../../src/store/job.repository.js";
import { moveJob } from "../../src/store/job-transition.repository.js";
import { listOperationLogs } from "../../src/store/operation-log.repository.js";
import {
  accessible,
  type Browser,
  launchBrowser,
  pageWidth,
  RUN_BROWSER_TESTS,
  SCREENSHOTS,
  signInToProject,
} from "../support/browser.js";
import { newJobRow } from "../support/pipeline.js";
import { startTestServer, type TestServer, tokenApi } from "../support/server.js";

describe("the console over HTTP", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer("sqlite", [3]);
  });
  afterAll(async () => s?.close());

  it("serves the page with a policy that loads nothing from elsewhere, and its hashed assets for good", async () => {
    const redirect = await fetch(`${s.baseUrl}/console`, { redirect: "manual" });
    expect([redirect.status, redirect.headers.get("location")]).toEqual([301, "/console/"]);
    const page = await fetch(`${s.baseUrl}/console/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(page.headers.get("referrer-policy")).toBe("no-referrer");
    expect(page.headers.get("cache-control")).toBe("no-cache");
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/console\/assets\/[^"]+)"/g)].map(
      (m) => m[1] as string,
    );
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const asset of assets) {
      const res = await fetch(`${s.baseUrl}${asset}`);
      expect(res.status, asset).toBe(200);
      expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      // Nothing fetched from another origin at run time.
      expect(await res.text(), asset).not.toMatch(/(?:src|href|import|url)\s*[=(]\s*["']https?:\/\//);
    }
    // A path of the app (a reload on a deep link) gets the page; a missing asset does not.
    expect((await fetch(`${s.baseUrl}/console/jobs`)).status).toBe(200);
  });
});

describe.skipIf(!RUN_BROWSER_TESTS)(
  "the console in Chromium (skipped only off CI without /usr/bin/chromium)",
  () => {
    let s: TestServer;
    let browser: Browser;
    let context: Browser["context"];

    beforeAll(async () => {
      s = await startTestServer("sqlite", [25]);
      browser = await launchBrowser();
      context = browser.context;
    }, 60_000);
    afterAll(async () => {
      await browser?.close();
      await s?.close();
    });

    it("signs in with a project token kept out of the URL, lists, filters and pages the jobs", async () => {
      const project = s.projects[0] as TestServer["projects"][number];
      const page = await context.newPage();
      const requested: string[] = [];
      page.on("request", (request) => requested.push(request.url()));
      await page.goto(`${s.baseUrl}/console/`);
      await page.getByRole("heading", { name: "Doppel console" }).waitFor();
      await accessible(page, "1-sign-in");

      await page.getByLabel("Project id").fill(project.id);
      await page.getByLabel("Token", { exact: true }).fill("dpl_not-a-token");
      await page.getByRole("button", { name: "Sign in" }).click();
      await expect(page.getByRole("alert").textContent()).resolves.toMatch(/token/i);

      await page.getByLabel("Token", { exact: true }).fill(project.token);
      await page.getByRole("button", { name: "Sign in" }).click();
      const caption = page.locator("caption");
      await caption.filter({ hasText: "of 25" }).waitFor();
      await expect(caption.textContent()).resolves.toBe("Jobs 1–20 of 25");
      await accessible(page, "2-jobs");

      // Filtering by two states shows only jobs in them, with ICE's name for each beside.
      const shown = await page.locator("tbody tr td:nth-child(2)").allTextContents();
      const [first, second] = [...new Set(shown)] as [string, string];
      expect(second, "the seeded page shows two states at least").toBeDefined();
      await page.getByText("States: any").click();
      await page.getByRole("checkbox", { name: first, exact: true }).check();
      await page.getByRole("checkbox", { name: second, exact: true }).check();
      await expect
        .poll(async () => {
          const states = await page.locator("tbody tr td:nth-child(2)").allTextContents();
          return (
            states.length > 0 &&
            states.every((state) => state === first || state === second) &&
            states.includes(first) &&
            states.includes(second)
          );
        })
        .toBe(true);
      await page.getByRole("button", { name: "Clear" }).click();
      await caption.filter({ hasText: "1–20 of 25" }).waitFor();
      await page.getByRole("button", { name: "Next" }).click();
      await caption.filter({ hasText: "21–25 of 25" }).waitFor();

      // The token travelled in a header only, never in a URL.
      expect(requested.filter((url) => url.includes(project.token))).toEqual([]);
      expect(page.url()).not.toContain(project.token);

      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: join(SCREENSHOTS, "3-jobs-phone.png"), fullPage: true });
      // It fits: nothing makes the page itself scroll sideways (wide tables scroll inside their box).
      expect(await page.evaluate(pageWidth)).toBeLessThanOrEqual(390);
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.getByLabel("Project id").waitFor();
      await page.close();
    }, 60_000);

    it("signs in with an access key: every request signed with SDK-HMAC-SHA256, the secret never sent", async () => {
      const project = s.projects[0] as TestServer["projects"][number];
      const page = await context.newPage();
      const sent: Array<{ url: string; headers: Record<string, string> }> = [];
      page.on("request", (r) => sent.push({ url: r.url(), headers: r.headers() }));
      const streamed: number[] = [];
      page.on("response", (r) => {
        if (r.url().includes("/doppel/events")) streamed.push(r.status());
      });
      await page.goto(`${s.baseUrl}/console/`);
      await page.getByLabel("A project, with an access key").check();
      await page.getByLabel("Project id").fill(project.id);
      await page.getByLabel("Access key id").fill(project.key.access_key_id);
      await page.getByLabel("Secret key").fill("not-the-secret");
      await page.getByRole("button", { name: "Sign in" }).click();
      await expect(page.getByRole("alert").textContent()).resolves.toMatch(/signature/i);
      await page.getByLabel("Secret key").fill(project.key.secret_access_key);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.locator("caption").filter({ hasText: "of 25" }).waitFor();
      // The job's page follows the job over the event stream, signed the same way.
      await page.locator("tbody a").first().click();
      await page.getByTestId("job-state").waitFor();
      await expect.poll(() => streamed).toContain(200);

      const api = sent.filter((r) => new URL(r.url).pathname.startsWith("/v1/"));
      expect(api.length).toBeGreaterThanOrEqual(3);
      for (const request of api) {
        expect(request.headers.authorization).toMatch(
          new RegExp(
            `^SDK-HMAC-SHA256 Access=${project.key.access_key_id}, SignedHeaders=[a-z;-]+, Signature=[0-9a-f]{64}$`,
          ),
        );
        expect(request.headers["x-auth-token"]).toBeUndefined();
      }
      expect(sent.filter((r) => JSON.stringify(r).includes(project.key.secret_access_key))).toEqual([]);
      await accessible(page, "1b-sign-in-key");
      await page.close();
    }, 60_000);

    it("shows a job's history and follows it live, failure reasons included", async () => {
      const project = s.projects[0] as TestServer["projects"][number];
      const runtime = s.t.runtime;
      const created = await tokenApi(s, project)<{ job_id: string }>("POST", "", { name: "Live one" });
      const jobId = created.body.job_id;
      const page = await context.newPage();
      await signInToProject(page, s.baseUrl, project);
      await page.getByRole("link", { name: "Live one" }).click();
      await page.getByRole("heading", { name: "Live one" }).waitFor();
      await expect(page.getByTestId("job-state").textContent()).resolves.toBe("WAIT_FILE_UPLOAD");

      // The change happens elsewhere; the page hears of it over the event stream, without a reload.
      await runtime.database.db.transaction().execute((trx) =>
        moveJob(trx, {
          jobId,
          projectId: project.id,
          from: "WAIT_FILE_UPLOAD",
          version: 1,
          path: ["AUTO_VERIFYING", "AUTO_VERIFY_FAILED"],
          log: {
            operateUser: "SYSTEM",
            logType: "AUTO_VERIFY",
            logDescription: "The checks failed",
            errorCode: "DOPPEL.NO_FACE",
            redoReasons: ["No face is visible in the training video"],
          },
          policy: runtime.config.pipeline,
          now: s.t.clock.now,
        }),
      );
      await page
        .getByTestId("job-state")
        .filter({ hasText: "AUTO_VERIFY_FAILED" })
        .waitFor({ timeout: 10_000 });
      await page.getByText("No face is visible in the training video").waitFor();
      await accessible(page, "6-job-detail");
      await page.getByRole("button", { name: "Back to the jobs" }).click();
      await page.locator("caption").waitFor();
      await page.close();
    }, 60_000);

    it("lets an operator approve one job and reject another from the review queue, by keyboard", async () => {
      // A server of its own: the review queue spans every project, and the seeded jobs include some in review.
      const own = await startTestServer("sqlite", [0]);
      const project = own.projects[0] as TestServer["projects"][number];
      const runtime = own.t.runtime;
      const waiting: string[] = [];
      for (const name of ["Review me first", "Review me second"]) {
        const job = newJobRow(project.id, own.t.clock.now + waiting.length, { name });
        await insertJob(runtime.database.db, job, { options: DEFAULT_JOB_OPTIONS, clientToken: null });
        await runtime.database.db.transaction().execute((trx) =>
          moveJob(trx, {
            jobId: job.id,
            projectId: project.id,
            from: "WAIT_FILE_UPLOAD",
            version: 1,
            path: ["AUTO_VERIFYING", "MANUAL_VERIFYING"],
            log: {
              operateUser: "SYSTEM",
              logType: "AUTO_VERIFY",
              logDescription: "checked",
              errorCode: null,
              redoReasons: [],
            },
            policy: runtime.config.pipeline,
            now: own.t.clock.now + waiting.length,
          }),
        );
        waiting.push(job.id);
      }
      const operator = (await createAdminToken(runtime, "Console reviewer")).token;
      const page = await context.newPage();
      await page.goto(`${own.baseUrl}/console/`);
      await page.getByLabel("An operator (review, workers)").check();
      await page.getByLabel("Operator token").fill(operator);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("heading", { name: /Review me first/ }).waitFor();
      await accessible(page, "4-review");

      await page.keyboard.press("a");
      await page.getByRole("heading", { name: /Review me second/ }).waitFor();
      await page.keyboard.press("r");
      await page.keyboard.type("The consent video shows someone else");
      await page.keyboard.press("Enter");
      await page.getByText("No job waits for review.").waitFor();

      const states = await Promise.all(
        waiting.map(async (id) => (await findVersionedJobById(runtime.database.db, id))?.job.state),
      );
      expect(states).toEqual(["WAIT_TRAINING_DATA_PREPROCESS", "MANUAL_VERIFY_FAILED"]);
      const history = await listOperationLogs(runtime.database.db, waiting[1] as string);
      expect(history.at(-1)?.redoReasons).toEqual(["The consent video shows someone else"]);

      await page.getByRole("button", { name: "Workers" }).click();
      await page
        .locator("caption")
        .filter({ hasText: /live tasks/i })
        .waitFor();
      await accessible(page, "5-workers");
      await page.close();
      await own.close();
    }, 60_000);
  },
);

describe("the console's page rules", () => {
  it("let files come only from Doppel, or also from the S3 store's endpoint", () => {
    const local = consoleHeaders(blobStoreOrigins({ kind: "local", root: "/data" }))[
      "content-security-policy"
    ];
    expect(local).toContain("connect-src 'self';");
    expect(local).toContain("media-src 'self' blob:;");
    const s3 = {
      kind: "s3",
      bucket: "b",
      region: "r",
      forcePathStyle: true,
      prefix: undefined,
      credentials: undefined,
    } as const;
    const minio = consoleHeaders(blobStoreOrigins({ ...s3, endpoint: "http://127.0.0.1:9000/" }))[
      "content-security-policy"
    ];
    expect(minio).toContain("connect-src 'self' http://127.0.0.1:9000;");
    const aws = consoleHeaders(blobStoreOrigins({ ...s3, endpoint: undefined }))["content-security-policy"];
    expect(aws).toContain("img-src 'self' https://*.amazonaws.com data: blob:;");
  });
});
